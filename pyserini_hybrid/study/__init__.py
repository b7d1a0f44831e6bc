"""The study: which batching to train with, answered in units. Its base sits here: the study file
(``config``, its tables in ``sections``, checked by ``file_checks``), the units it becomes (``units``) and the
recipe each trains with (``recipes``), the recorded ranks (``records``), the fingerprint and machine
(``provenance``, over the data files of ``data_files``; mixed only under ``fingerprints``' rule), the cost
(``cost``), the checks on finished units (``verify``) and the per-language measures the report computes
(``language_measures``). ``run/`` turns a unit into its result folder; ``report/`` assembles the report from
those folders alone and never imports ``run/``. The CLI (``__main__``) may import both."""

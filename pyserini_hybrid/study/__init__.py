"""Studies and benchmarks. The study file (``config``) becomes a list of independent units (``units``); a
unit is run (``produce``, with its models from ``training``) into a small result directory of recorded ranks
(``records``) with its fingerprint and machine (``provenance``) and cost (``cost``); the report is assembled
from those files alone (``assemble``, ``tables``, ``language_measures``, ``report``). The benchmark over all
sets (``benchmark``) and the speed measurement (``speed``) sit beside it. The top of the import order: may
import everything else."""

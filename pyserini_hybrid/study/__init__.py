"""Studies and benchmarks: the study file (``config``), its time ledger (``ledger``), its models (``training``), orchestration of
training and runs (``orchestrate``), its tables (``tables``) and report (``report``); the benchmark over
all sets (``benchmark``) and the speed measurement (``speed``) beside it. The top of the import order:
may import everything else."""

"""The console commands (`lab-evaluate`, `lab-sample`, `lab-generate`, `lab-sweep`, `lab-bench`; `lab-train` is
`lab.train:main`). `scripts/*.py` are thin launchers of the same functions."""

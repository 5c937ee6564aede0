"""Refinement: Optuna studies that search an architecture's hyperparameters on a tuning
period that ends before the rated one (`factory tune`), breeding of the best trials into
the pool with their lineage, and the pool policy of the daemon's refine job.

* `space`     — an architecture's ``search_space`` (or grid) as Optuna distributions;
* `storage`   — where studies live: Optuna's RDB storage on PostgreSQL (own schema),
  a journal file next to a SQLite database;
* `objective` — the walk-forward score of one trial on data cut at the tuning boundary,
  reported per segment so the median pruner stops bad trials early;
* `study`     — study naming, resume after a kill, running trials, the study ledger
  (``tuning_studies``: the trial counts the deflated Sharpe adds to its population);
* `breed`     — best trials to configs with lineage (study, trial, parent config);
* `pool`      — retirement policy and the refine job (retire, breed, events with reasons).
"""

#!/usr/bin/env python3
"""The reference for the probe's nested cross-validation, in scikit-learn.

Reads JSON on stdin: {"x": [[...]], "labels": [...], "grid": [C...], "plan": [{"train": [bool], "inner": [{"train": [bool],
"validation": [bool]}]}]}. For each outer split: GridSearchCV over C of StandardScaler + LogisticRegression(class_weight=
'balanced'), scored by log-loss on the given inner splits, refit on the outer training rows; prints JSON with, per outer
split, the chosen C, the decision values of the test rows, their balanced accuracy and AUROC.
With --unweighted the classes are not reweighted: a deliberately different probe, to show the comparison can fail.
"""
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

class_weight = None if "--unweighted" in sys.argv[1:] else "balanced"
data = json.load(sys.stdin)
x = np.asarray(data["x"], dtype=np.float64)
y = np.asarray(data["labels"], dtype=np.int64)
results = []
for split in data["plan"]:
    train = np.flatnonzero(split["train"])
    test = np.flatnonzero(~np.asarray(split["train"]))
    position = {row: i for i, row in enumerate(train)}
    inner = [
        (np.array([position[r] for r in np.flatnonzero(s["train"])]), np.array([position[r] for r in np.flatnonzero(s["validation"])]))
        for s in split["inner"]
    ]
    model = make_pipeline(StandardScaler(), LogisticRegression(class_weight=class_weight, tol=1e-12, max_iter=100000))
    search = GridSearchCV(model, {"logisticregression__C": data["grid"]}, scoring="neg_log_loss", cv=inner, refit=True)
    search.fit(x[train], y[train])
    scores = search.decision_function(x[test])
    results.append({
        "c": search.best_params_["logisticregression__C"],
        "test": test.tolist(),
        "scores": scores.tolist(),
        "balanced_accuracy": balanced_accuracy_score(y[test], (scores > 0).astype(int)),
        "auroc": roc_auc_score(y[test], scores),
    })
json.dump(results, sys.stdout)

"""Split the raw house data into a training and a test set, with features scaled to the training set."""

import csv
import json
import os
import random

with open("data/houses.csv", newline="") as fh:
    rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]

random.Random(42).shuffle(rows)
cut = int(len(rows) * 0.8)
train, test = rows[:cut], rows[cut:]
features = ["area_sqm", "rooms", "age_years", "km_to_centre"]
scale = {f: max(r[f] for r in train) for f in features}

os.makedirs("prepared", exist_ok=True)
for name, part in (("train", train), ("test", test)):
    with open(f"prepared/{name}.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(features + ["price_eur"])
        writer.writerows([[r[f] / scale[f] for f in features] + [r["price_eur"]] for r in part])
with open("prepared/scale.json", "w") as fh:
    json.dump(scale, fh, indent=2)
print(f"prepared {len(train)} training and {len(test)} test rows")

"""Compare the trained models and write a report naming the better one."""

import glob
import json
import os
from pathlib import Path

results = sorted((json.loads(Path(path).read_text()) for path in glob.glob("models/*.json")),
                 key=lambda r: r["rmse"])
if len(results) < 2:
    raise SystemExit(f"expected two trained models in models/, found {len(results)}")
os.makedirs("reports", exist_ok=True)
best = results[0]
with open("reports/comparison.json", "w") as fh:
    json.dump({"best": best["model"], "models": results}, fh, indent=2)
with open("reports/summary.md", "w") as fh:
    fh.write("| model | RMSE (EUR) |\n|---|---|\n")
    fh.writelines(f"| {r['model']} | {r['rmse']:,.0f} |\n" for r in results)
print(f"best model: {best['model']} (RMSE {best['rmse']:,.0f} EUR)")

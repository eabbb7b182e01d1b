"""`audiovae report`: one self-contained HTML page about a run, readable offline.

- `run_info`: what the run folder records (recipe, manifest, metrics.jsonl, wall time, evaluations)
- `heldout`: which notes to play (the trainer's own validation clips, or clips of --data)
- `sounds`: those notes through the model and the Griffin-Lim stage (triples, traversal, morph)
- `figures`: PNGs (training curves, KL per dimension, spectrogram thumbnails)
- `media`: audio (Ogg Opus / Vorbis, else WAV) and PNGs as base64 data URIs
- `content`: gathers all of the above into one ReportContent and writes the file
- `page`: renders ReportContent as HTML (inline CSS, no script, no external asset)
- `commands`: the click command

Example:
    >>> from audiovae.report.content import write_report
    >>> write_report("runs/demo", "runs/demo/report.html")  # doctest: +SKIP
"""

"""The ask pipeline: question -> retrieve -> rerank -> select -> answer -> check -> Answer
(pipeline.py wires the parts; each part is a small protocol with its default next to it)."""

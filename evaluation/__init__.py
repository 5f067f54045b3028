"""Measuring instruments: retrieval, answers, citations and speed on XQuAD-R and SaudiNewsNet,
side by side with a BM25 baseline and a plain LangChain pipeline (`news-assistant eval`)."""

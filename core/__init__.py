"""The shared core that ingest/ and assistant/ both build on, importing neither: errors,
settings, the record and answer types, text normalisation and word spans, the lexicon, the
store protocol with its Chroma implementation, and the embedders."""

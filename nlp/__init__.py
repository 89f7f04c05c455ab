"""Appeal classification with jieba and an explainable keyword-weight model; no Flask, no database."""

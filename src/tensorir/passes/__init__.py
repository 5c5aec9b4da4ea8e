"""Graph rewrites and transforms over the tir IR, and the pipelines that order them."""

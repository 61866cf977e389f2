"""Commands for the people working on the project: README tables, reviews, the ablation, the
browser app's model bundle, the Hub folder. They read what the stages wrote; no stage depends on
them."""

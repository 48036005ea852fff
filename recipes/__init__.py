"""The study's experiments as data: one YAML recipe per figure or table (``xbench study list``)."""

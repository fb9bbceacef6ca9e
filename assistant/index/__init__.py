"""Index: build, layout, stores and encoders."""

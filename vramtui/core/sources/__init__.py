"""Where a model comes from: a preset, a config.json, a Hugging Face Hub repo (its config and the
safetensors headers, read by range requests), a local folder, or a GGUF file."""

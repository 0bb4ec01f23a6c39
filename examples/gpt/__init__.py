"""A character-level GPT written as a function of a parameter pytree, trained with autograd-engine
(`python -m examples.gpt train|sample|graph`), and its torch.nn twin."""

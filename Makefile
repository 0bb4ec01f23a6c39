# Shortcuts for ./dev, which does all set-up itself (make is optional): make train, make test, ...
EPOCHS ?= 10
TORCH_INDEX ?=

.PHONY: setup train test lint clean

setup train test lint clean:
	EPOCHS=$(EPOCHS) TORCH_INDEX=$(TORCH_INDEX) ./dev $@

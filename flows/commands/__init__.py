"""CLI sub-commands, one module each; ``flows.cli`` registers them."""

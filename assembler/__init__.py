"""The accelerator's instruction set, assembler, disassembler and model compiler."""

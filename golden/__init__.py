"""Golden models of the HGRN-Bit (MatMul-free) LM: the float reference and the hardware-exact integer model."""

"""The official-account webhook: signature checks, decryption, dedupe, the handler registry and replies."""

"""Recipe schema, the trainer loop and checkpoints."""

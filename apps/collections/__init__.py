"""Collections: the dunning ladder, collection cases (queue, contacts, promises, two-person write-offs),
recoveries after write-off, and their end-of-day steps."""

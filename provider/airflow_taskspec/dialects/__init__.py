"""Input formats. Each dialect turns one spec file into the IR; nothing outside this package knows them."""

package values

// Suggest returns the name in known closest to name (a typo of it), or "" when none is
// close: within two edits, or a third of the name's length for a long one. It is the
// rule that suggests chart keys, for flag and environment names too.
func Suggest(name string, known []string) string { return suggest(name, known) }

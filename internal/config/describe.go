package config

// Item is one line of `evara config check`: a setting, its effective value
// (secrets redacted) and where that value came from.
type Item struct {
	Name   string // the setting's preferred environment name
	Flag   string // its flag, "" when it has none
	Value  string
	Source string // "default", "env NAME" or "flag --name"
}

// Describe lists the settings that apply to the command, as they are in c.
func (c Config) Describe() []Item {
	var items []Item
	for _, s := range settings(&c) {
		if !s.appliesTo(c.Command) {
			continue
		}
		src := c.sources[s.env[0]]
		if src == "" {
			src = "default"
		}
		items = append(items, Item{Name: s.env[0], Flag: s.flag, Value: s.display(), Source: src})
	}
	return items
}

// Doc describes one setting for documentation (the README's table).
type Doc struct {
	Env     []string
	Flag    string
	Default string
	Usage   string
	Secret  bool
}

// Docs lists every setting with its default.
func Docs() []Doc {
	c := Default()
	var docs []Doc
	for _, s := range settings(&c) {
		docs = append(docs, Doc{Env: s.env, Flag: s.flag, Default: s.value.String(), Usage: s.usage, Secret: s.secret})
	}
	return docs
}

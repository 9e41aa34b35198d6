package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// UsageError is returned by Load when the command line cannot be used (or
// help was asked for: then Err is flag.ErrHelp). Text is the usage to show.
type UsageError struct {
	Err  error
	Text string
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

var commands = []string{CmdServe, CmdSim, CmdMigrate, CmdVersion, CmdConfigCheck, CmdKeysRotate, CmdClusterStat, CmdToken, CmdUsersPromote, CmdBenchWS}

// interspersed are the commands whose flags may also follow their
// positional arguments, as in `evara users promote a@b.c --role customer`.
var interspersed = []string{CmdUsersPromote}

// Load reads the command and its settings from args (without the program
// name) and getenv. Flags override the environment, which overrides the
// defaults. Values the environment holds that cannot be parsed do not stop
// Load: they are reported, with every other problem, by Validate.
func Load(args []string, getenv func(string) string) (Config, error) {
	c := Default()
	cmd, rest, err := splitCommand(args)
	if err != nil {
		return c, &UsageError{Err: err, Text: Usage("")}
	}
	c.Command = cmd
	c.sources = map[string]string{}

	fs := flag.NewFlagSet("evara "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, s := range settings(&c) {
		if !s.appliesTo(cmd) {
			continue
		}
		for _, name := range s.env {
			v := getenv(name)
			if v == "" {
				continue
			}
			if err := s.value.Set(v); err != nil {
				c.problems = append(c.problems, fmt.Errorf("%s: %w", name, err))
			}
			c.sources[s.env[0]] = "env " + name
			break
		}
		if s.flag != "" {
			fs.Var(s.value, s.flag, s.usage)
		}
	}
	positional, err := parseFlags(fs, rest, oneOf(cmd, interspersed...))
	if err != nil {
		return c, &UsageError{Err: err, Text: Usage(cmd)}
	}
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings(&c) {
			if s.flag == f.Name && s.appliesTo(cmd) {
				c.sources[s.env[0]] = "flag --" + f.Name
			}
		}
	})
	c.Args = positional
	return c, nil
}

// parseFlags parses args with fs and returns the positional arguments. Go's
// flag package stops at the first of them; with interspersed, parsing
// resumes after each one, until the end or a "--".
func parseFlags(fs *flag.FlagSet, args []string, interspersed bool) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if !interspersed {
		return fs.Args(), nil
	}
	var positional []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
	}
	return positional, nil
}

func splitCommand(args []string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, errors.New("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		return "", nil, flag.ErrHelp
	case "config", "keys", "cluster", "users", "bench":
		for _, c := range commands {
			if len(args) >= 2 && args[0]+" "+args[1] == c {
				return c, args[2:], nil
			}
		}
		return "", nil, fmt.Errorf("unknown command %q: did you mean \"config check\", \"keys rotate\", \"cluster status\", \"users promote\" or \"bench ws\"?", args[0])
	}
	for _, c := range commands {
		if args[0] == c {
			return c, args[1:], nil
		}
	}
	return "", nil, fmt.Errorf("unknown command %q", args[0])
}

// Usage describes the commands, or one command and its flags.
func Usage(cmd string) string {
	var b strings.Builder
	if cmd == "" {
		b.WriteString("usage: evara <command> [flags]\n\ncommands:\n")
		b.WriteString("  serve          run the Evara backend (add --demo for the built-in simulator)\n")
		b.WriteString("  sim            run the ThingSpeak-compatible simulator\n")
		b.WriteString("  migrate        apply or show database migrations\n")
		b.WriteString("  config check   print the effective configuration (secrets redacted) and validate it\n")
		b.WriteString("  keys rotate    re-seal every stored credential under the active EVARA_ENCRYPTION_KEY key\n")
		b.WriteString("  cluster status show the members of the cluster and their device actors, breakers and upstream budget\n")
		b.WriteString("  token          mint a development token signed with EVARA_JWT_SECRET: evara token --sub <id> [--email …] [--ttl 1h]\n")
		b.WriteString("  users promote  give a signed-in user a role: evara users promote <email> [--role superadmin]\n")
		b.WriteString("  bench ws       load a member with WebSocket sessions and report delivery rate, latency, memory and CPU\n")
		b.WriteString("  version        print the version\n\n")
		b.WriteString("`evara <command> -h` lists a command's flags; every flag also has an EVARA_* variable.\n")
		return b.String()
	}
	synopsis := "[flags]"
	if cmd == CmdUsersPromote {
		synopsis = "<email> [flags]"
	}
	fmt.Fprintf(&b, "usage: evara %s %s\n\nflags and environment:\n", cmd, synopsis)
	c := Default()
	for _, s := range settings(&c) {
		if !s.appliesTo(cmd) {
			continue
		}
		name := "(env only)"
		if s.flag != "" {
			name = "--" + s.flag
		}
		fmt.Fprintf(&b, "  %-22s %-26s %s", name, strings.Join(s.env, ", "), s.usage)
		if d := s.value.String(); d != "" && !s.secret {
			fmt.Fprintf(&b, " (default %s)", d)
		}
		b.WriteString("\n")
	}
	return b.String()
}

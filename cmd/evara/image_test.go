package main

import (
	"bufio"
	"crypto/rand"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evaratech/evara/persistence/storetest"
)

// The release image (../../Dockerfile) cannot be built here, so this test
// does what it does: it builds the binary with the `go build` line of the
// Dockerfile's build stage, and runs it as the image's user (65532:65532)
// with the image's arguments, nothing in the environment but its
// configuration, and a working directory it cannot write. It must start,
// serve /healthz and /readyz, and stop cleanly on SIGTERM.

const imageUID = 65532

// Values for the Dockerfile's build arguments; the binary must report them.
const (
	imageTestVersion = "v0.0.0-image"
	imageTestCommit  = "1ma9e"
)

func TestImageBinary(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := parseDockerfile(string(src), map[string]string{
		"VERSION":    imageTestVersion,
		"COMMIT":     imageTestCommit,
		"TARGETOS":   runtime.GOOS,
		"TARGETARCH": runtime.GOARCH,
	})
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if img.user != fmt.Sprintf("%d:%d", imageUID, imageUID) {
		t.Fatalf("Dockerfile: the final stage runs as USER %q; this test runs the binary as %d:%d", img.user, imageUID, imageUID)
	}

	// The binary, in a directory of its own that uid 65532 can reach.
	binDir := worldReadableDir(t)
	bin := filepath.Join(binDir, "evara")
	buildLikeImage(t, root, img, bin)
	checkStatic(t, bin)

	if os.Geteuid() != 0 {
		if os.Getenv("EVARA_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("running the binary as uid 65532 needs root, and EVARA_TEST_REQUIRE_SERVICES=1")
		}
		t.Skip("not root: cannot run the binary as uid 65532 (run the tests as root, as CI does)")
	}
	dbURL := storetest.FreshSchema(t) // production without DATABASE_URL would write the embedded store

	// The working directory: root's, mode 0555, so uid 65532 cannot write it
	// (in the image the whole root filesystem is read-only).
	wd, err := os.MkdirTemp("", "evara-image-wd-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(wd, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(wd, 0o755); _ = os.RemoveAll(wd) })

	t.Run("version", func(t *testing.T) {
		cmd := exec.Command(bin, "version")
		cmd.Env = []string{} // empty, not inherited
		cmd.Dir = wd
		cmd.SysProcAttr = asImageUser()
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), imageTestVersion) || !strings.Contains(string(out), imageTestCommit) {
			t.Fatalf("evara version as uid %d: %v\n%s\n(the Dockerfile's -ldflags -X must set main.version and main.commit)", imageUID, err, out)
		}
	})

	t.Run("serve", func(t *testing.T) {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		cmd := exec.Command(bin, img.args...)
		cmd.Env = []string{
			"EVARA_ENV=production",
			"EVARA_HTTP_ADDR=127.0.0.1:0",
			"EVARA_ENCRYPTION_KEY=k1:" + base64.StdEncoding.EncodeToString(key),
			"DATABASE_URL=" + dbURL,
			"SUPABASE_JWT_SECRET=" + testJWTSecret,    // production needs a way to verify tokens
			"EVARA_THINGSPEAK_URL=http://127.0.0.1:9", // valid, unreachable, and never asked: there are no nodes
		}
		cmd.Dir = wd
		cmd.SysProcAttr = asImageUser()
		p := startProc(t, cmd)
		addr, _ := p.waitFor(t, "evara serving", 60*time.Second)["addr"].(string)

		checkCredentials(t, p.cmd.Process.Pid)
		waitStatus(t, "http://"+addr+"/healthz", http.StatusOK, 30*time.Second)
		waitStatus(t, "http://"+addr+"/readyz", http.StatusOK, 30*time.Second)

		p.stop(t) // SIGTERM, exit 0 within 30 s
		if !slices.ContainsFunc(p.lines(), func(l map[string]any) bool { return l["msg"] == "stopped cleanly" }) {
			t.Errorf("no \"stopped cleanly\" in the logs: %v", p.lines())
		}
		if left, _ := os.ReadDir(wd); len(left) > 0 {
			t.Errorf("the read-only working directory has entries: %v", left)
		}
	})
}

// imageSpec is what the test takes from the Dockerfile.
type imageSpec struct {
	buildEnv  []string // NAME=value: the build stage's ENV and the assignments before `go`
	buildArgs []string // the words after `go`: build … -o <out> <package>
	out       string   // the -o path inside the build stage
	user      string   // USER of the final stage
	args      []string // ENTRYPOINT arguments after the binary, then CMD
}

type dockerStage struct {
	name   string
	vars   map[string]string // ARG and ENV
	env    []string          // ENV, as NAME=value
	runs   []string          // RUN instructions, flags and all
	copies [][]string        // COPY --from=… words
	user   string
	entry  []string
	cmd    []string
}

// parseDockerfile reads the Dockerfile's final stage (USER, ENTRYPOINT,
// CMD, the COPY --from that brings in the entrypoint) and the `go build`
// of the stage it copies from. args are the build arguments (ARG values) to
// use; a variable that the build stage does not declare is an error.
func parseDockerfile(src string, args map[string]string) (imageSpec, error) {
	var stages []*dockerStage
	for _, ins := range dockerInstructions(src) {
		keyword, rest, _ := strings.Cut(ins, " ")
		rest = strings.TrimSpace(rest)
		keyword = strings.ToUpper(keyword)
		if keyword == "FROM" {
			words := strings.Fields(rest)
			s := &dockerStage{name: strconv.Itoa(len(stages)), vars: map[string]string{}}
			if n := len(words); n >= 3 && strings.EqualFold(words[n-2], "AS") {
				s.name = words[n-1]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			continue // ARG before the first FROM: only usable in FROM lines
		}
		s := stages[len(stages)-1]
		switch keyword {
		case "ARG":
			for _, w := range strings.Fields(rest) {
				name, def, _ := strings.Cut(w, "=")
				if v, ok := args[name]; ok {
					def = v
				}
				s.vars[name] = strings.Trim(def, `"'`)
			}
		case "ENV":
			for _, w := range strings.Fields(rest) {
				name, v, ok := strings.Cut(w, "=")
				if !ok {
					return imageSpec{}, fmt.Errorf("ENV %s: only the NAME=value form is supported", rest)
				}
				v = strings.Trim(v, `"'`)
				s.vars[name] = v
				s.env = append(s.env, name+"="+v)
			}
		case "RUN":
			s.runs = append(s.runs, rest)
		case "COPY":
			if strings.HasPrefix(rest, "--from=") {
				s.copies = append(s.copies, strings.Fields(rest))
			}
		case "USER":
			s.user = rest
		case "ENTRYPOINT", "CMD":
			var words []string
			if err := json.Unmarshal([]byte(rest), &words); err != nil {
				return imageSpec{}, fmt.Errorf("%s %s: only the exec (JSON) form is supported: %w", keyword, rest, err)
			}
			if keyword == "CMD" {
				s.cmd = words
			} else {
				s.entry = words
			}
		}
	}
	if len(stages) < 2 {
		return imageSpec{}, errors.New("want a multi-stage build: a build stage and the final stage")
	}
	final := stages[len(stages)-1]
	if len(final.entry) == 0 {
		return imageSpec{}, errors.New("the final stage has no ENTRYPOINT")
	}
	spec := imageSpec{user: final.user, args: append(slices.Clone(final.entry[1:]), final.cmd...)}

	var build *dockerStage
	for _, c := range final.copies {
		if len(c) == 3 && c[2] == final.entry[0] {
			from := strings.TrimPrefix(c[0], "--from=")
			for _, s := range stages {
				if s.name == from {
					build, spec.out = s, c[1]
				}
			}
		}
	}
	if build == nil {
		return imageSpec{}, fmt.Errorf("no `COPY --from=<stage> <binary> %s` of the entrypoint in the final stage", final.entry[0])
	}

	lookup := func(name string) (string, error) {
		v, ok := build.vars[name]
		if !ok {
			return "", fmt.Errorf("$%s is no ARG or ENV of build stage %s", name, build.name)
		}
		return v, nil
	}
	for _, run := range build.runs {
		// RUN flags (--mount=…, --network=…) come before the command.
		for strings.HasPrefix(run, "--") {
			_, run, _ = strings.Cut(run, " ")
			run = strings.TrimLeft(run, " \t")
		}
		if !strings.Contains(run, "go build") {
			continue
		}
		if spec.buildArgs != nil {
			return imageSpec{}, fmt.Errorf("build stage %s has more than one `go build`", build.name)
		}
		words, err := shellWords(run, lookup)
		if err != nil {
			return imageSpec{}, fmt.Errorf("RUN %s: %w", run, err)
		}
		spec.buildEnv = slices.Clone(build.env)
		for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
			spec.buildEnv = append(spec.buildEnv, words[0])
			words = words[1:]
		}
		if len(words) < 2 || words[0] != "go" || words[1] != "build" {
			return imageSpec{}, fmt.Errorf("RUN %s: want `[NAME=value …] go build …`", run)
		}
		spec.buildArgs = words[1:]
	}
	if spec.buildArgs == nil {
		return imageSpec{}, fmt.Errorf("build stage %s has no `go build`", build.name)
	}
	out := slices.Index(spec.buildArgs, "-o")
	if out < 0 || out+1 >= len(spec.buildArgs) || spec.buildArgs[out+1] != spec.out {
		return imageSpec{}, fmt.Errorf("the `go build` of stage %s does not write -o %s, the file the final stage copies", build.name, spec.out)
	}
	return spec, nil
}

// dockerInstructions returns the Dockerfile's instructions, continuation
// lines joined and comments dropped.
func dockerInstructions(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue // comments (and blank lines) also inside a continued instruction
		}
		if body, cont := strings.CutSuffix(line, `\`); cont {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// shellWords splits one simple shell command into words: quotes, backslash
// escapes and $NAME / ${NAME} expansion. Anything else of the shell (lists,
// pipes, redirections, command substitution, ${NAME:-…}) is an error: the
// test would not be running what the image runs.
func shellWords(s string, lookup func(string) (string, error)) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			flush()
			i++
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated '")
			}
			cur.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 2
		case c == '"':
			inWord = true
			i++
			for {
				if i >= len(s) {
					return nil, errors.New(`unterminated "`)
				}
				c := s[i]
				if c == '"' {
					i++
					break
				}
				switch {
				case c == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0:
					cur.WriteByte(s[i+1])
					i += 2
				case c == '$':
					v, n, err := expandVar(s[i:], lookup)
					if err != nil {
						return nil, err
					}
					cur.WriteString(v)
					i += n
				case c == '`':
					return nil, errors.New("command substitution")
				default:
					cur.WriteByte(c)
					i++
				}
			}
		case c == '\\':
			if i+1 < len(s) {
				cur.WriteByte(s[i+1])
				inWord = true
			}
			i += 2
		case c == '$':
			v, n, err := expandVar(s[i:], lookup)
			if err != nil {
				return nil, err
			}
			if strings.ContainsAny(v, " \t\n") {
				return nil, fmt.Errorf("unquoted %s has spaces: the shell would split it", s[i:i+n])
			}
			cur.WriteString(v)
			inWord = inWord || v != ""
			i += n
		case strings.IndexByte(";&|<>()`", c) >= 0:
			return nil, fmt.Errorf("shell syntax %q: keep the build one simple command", c)
		default:
			cur.WriteByte(c)
			inWord = true
			i++
		}
	}
	flush()
	return words, nil
}

// expandVar expands the $NAME or ${NAME} at the start of s and returns its
// value and length.
func expandVar(s string, lookup func(string) (string, error)) (string, int, error) {
	isName := func(r rune, first bool) bool {
		return r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (!first && r >= '0' && r <= '9')
	}
	if strings.HasPrefix(s, "${") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", 0, errors.New("unterminated ${")
		}
		name := s[2:end]
		for i, r := range name {
			if !isName(r, i == 0) {
				return "", 0, fmt.Errorf("%s: only plain ${NAME} is supported", s[:end+1])
			}
		}
		if name == "" {
			return "", 0, errors.New("empty ${}")
		}
		v, err := lookup(name)
		return v, end + 1, err
	}
	n := 1
	for n < len(s) && isName(rune(s[n]), n == 1) {
		n++
	}
	if n == 1 {
		if strings.HasPrefix(s, "$(") {
			return "", 0, errors.New("command substitution")
		}
		return "$", 1, nil
	}
	v, err := lookup(s[1:n])
	return v, n, err
}

// worldReadableDir is a fresh directory, removed at the end of the test,
// that every user can list and enter, on a path every user can traverse.
func worldReadableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "evara-image-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			t.Fatalf("%s (mode %s) cannot be traversed by uid %d: set TMPDIR to a directory that can", d, fi.Mode().Perm(), imageUID)
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

// buildLikeImage runs the Dockerfile's `go build` from the module root,
// writing bin instead of the image's path.
func buildLikeImage(t *testing.T, root string, img imageSpec, bin string) {
	t.Helper()
	args := slices.Clone(img.buildArgs)
	args[slices.Index(args, "-o")+1] = bin
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), img.buildEnv...)
	if !slices.Contains(img.buildEnv, "CGO_ENABLED=0") {
		t.Fatalf("the Dockerfile's build does not set CGO_ENABLED=0 (env %q): the distroless/static image needs a static binary", img.buildEnv)
	}
	t.Logf("%s go %s", strings.Join(img.buildEnv, " "), strings.Join(args, " "))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// The build settings the binary records: as `make build` builds it.
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	for _, want := range []string{"\tbuild\t-trimpath=true\n", "\tbuild\tCGO_ENABLED=0\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the binary's build settings lack %q:\n%s", strings.TrimSpace(want), out)
		}
	}
}

// checkStatic fails unless bin is a statically linked ELF executable: no
// program interpreter, no dynamic section, no shared libraries.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("%s has a %s program header: not statically linked", bin, p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("%s needs shared libraries %v", bin, libs)
	}
}

func asImageUser() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: imageUID, Gid: imageUID, Groups: []uint32{}}, // no supplementary groups
		Pdeathsig:  syscall.SIGKILL,
	}
}

// startProc starts cmd with its JSON logs collected (see proc).
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	go p.collect(stderr)
	t.Cleanup(func() { p.kill() })
	return p
}

// checkCredentials reads /proc/<pid>/status of the running process: uid
// and gid 65532 (real, effective, saved, filesystem), no supplementary
// groups, no capabilities.
func checkCredentials(t *testing.T, pid int) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id := strconv.Itoa(imageUID)
	want := map[string]string{
		"Uid":    strings.Join([]string{id, id, id, id}, "\t"),
		"Gid":    strings.Join([]string{id, id, id, id}, "\t"),
		"Groups": "",
		"CapPrm": "0000000000000000",
		"CapEff": "0000000000000000",
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), ":")
		if w, ok := want[name]; ok {
			seen[name] = true
			if got := strings.TrimSpace(value); got != w {
				t.Errorf("/proc/%d/status %s: %q, want %q", pid, name, got, w)
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("/proc/%d/status: saw %v of %v", pid, seen, want)
	}
}

// waitStatus polls url until it answers status.
func waitStatus(t *testing.T, url string, status int, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == status {
			return
		}
		last = fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
	t.Fatalf("GET %s: no %d within %s (last: %s)", url, status, timeout, last)
}

func TestImageDockerfileParser(t *testing.T) {
	const final = "FROM gcr.io/distroless/static-debian12:nonroot\nCOPY --from=build /out/evara /evara\nUSER 65532:65532\nENTRYPOINT [\"/evara\"]\nCMD [\"serve\"]\n"
	args := map[string]string{"VERSION": "v1", "COMMIT": "c1"}
	t.Run("follows the build", func(t *testing.T) {
		spec, err := parseDockerfile("FROM golang AS build\nARG VERSION COMMIT\nENV GOFLAGS=-mod=readonly\nRUN --mount=type=cache,target=/root/.cache \\\n  # a comment\n  CGO_ENABLED=0 go build -ldflags \"-X main.version=${VERSION} -X main.commit=$COMMIT\" -o '/out/evara' ./cmd/\\evara\n"+final, args)
		if err != nil {
			t.Fatal(err)
		}
		want := imageSpec{
			buildEnv:  []string{"GOFLAGS=-mod=readonly", "CGO_ENABLED=0"},
			buildArgs: []string{"build", "-ldflags", "-X main.version=v1 -X main.commit=c1", "-o", "/out/evara", "./cmd/evara"},
			out:       "/out/evara",
			user:      "65532:65532",
			args:      []string{"serve"},
		}
		if fmt.Sprintf("%q", spec) != fmt.Sprintf("%q", want) {
			t.Fatalf("got  %q\nwant %q", spec, want)
		}
	})
	for name, build := range map[string]string{
		"a list":              "FROM golang AS build\nRUN go mod download && go build -o /out/evara ./cmd/evara\n",
		"an undeclared ARG":   "FROM golang AS build\nRUN go build -ldflags \"-X main.version=$VERSION\" -o /out/evara ./cmd/evara\n",
		"another output":      "FROM golang AS build\nRUN go build -o /bin/evara ./cmd/evara\n",
		"a default expansion": "FROM golang AS build\nARG VERSION\nRUN go build -ldflags \"-X main.version=${VERSION:-dev}\" -o /out/evara ./cmd/evara\n",
		"no go build":         "FROM golang AS build\nRUN make build\n",
		"another stage":       "FROM golang AS builder\nRUN go build -o /out/evara ./cmd/evara\n",
	} {
		t.Run("rejects "+name, func(t *testing.T) {
			if spec, err := parseDockerfile(build+final, args); err == nil {
				t.Fatalf("accepted: %q", spec)
			}
		})
	}
}

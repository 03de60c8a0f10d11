package main

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const containerFile = "../../dist/Containerfile"

// instruction is one line of a Containerfile, continuations joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// parseContainerfile reads the instructions of a Containerfile, split
// into stages at each FROM. It knows what dist/Containerfile uses:
// comments, blank lines and backslash continuations (no heredocs, no
// escape directive).
func parseContainerfile(text string) [][]instruction {
	var stages [][]instruction
	var cur strings.Builder
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if t := strings.TrimSpace(line); cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "#") { // a comment inside a continuation
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s)
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		cur.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " ")}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	return stages
}

func find(stage []instruction, cmd string) []string {
	var out []string
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// env is a stage's ENV settings (the KEY=VALUE form, without quotes).
func env(stage []instruction) map[string]string {
	out := map[string]string{}
	for _, args := range find(stage, "ENV") {
		for _, kv := range strings.Fields(args) {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	}
	return out
}

func TestParseContainerfile(t *testing.T) {
	stages := parseContainerfile("# c\nARG X=1\nFROM a AS b\nRUN one \\\n  # inside\n  two\n\nfrom c\nENV A=1 \\\n    B=2\n")
	want := [][]instruction{{{"FROM", "a AS b"}, {"RUN", "one two"}}, {{"FROM", "c"}, {"ENV", "A=1 B=2"}}}
	if len(stages) != 2 || !slices.Equal(stages[0], want[0]) || !slices.Equal(stages[1], want[1]) {
		t.Errorf("parsed %q, want %q", stages, want)
	}
}

// TestContainerfile checks dist/Containerfile's promises (a non-root
// user, the data directory a volume, relayctl health as the health
// check, listeners a container can reach), then builds the binaries with
// its own build line and checks that they are static.
func TestContainerfile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(containerFile)
	if err != nil {
		t.Fatal(err)
	}
	stages := parseContainerfile(string(raw))
	if len(stages) != 2 {
		t.Fatalf("%d stages, want 2 (build, run)", len(stages))
	}
	build, final := stages[0], stages[1]

	users := find(final, "USER")
	if len(users) == 0 || slices.Contains([]string{"root", "0", "0:0", "root:root"}, users[len(users)-1]) {
		t.Errorf("the image runs as %q, want a non-root USER", users)
	}
	e := env(final)
	data := e["RELAY_DATA"]
	if vols := find(final, "VOLUME"); data == "" || !slices.Contains(vols, data) {
		t.Errorf("VOLUME %q, RELAY_DATA %q: want the data directory a volume", vols, data)
	}
	for _, k := range []string{"RELAY_SMTP_LISTEN", "RELAY_METRICS_LISTEN"} {
		if !strings.HasPrefix(e[k], "0.0.0.0:") {
			t.Errorf("%s=%q, want 0.0.0.0: loopback is the container's own", k, e[k])
		}
	}
	if hc := find(final, "HEALTHCHECK"); len(hc) != 1 || !regexp.MustCompile(`CMD \["[^"]*/relayctl", "health"`).MatchString(hc[0]) {
		t.Errorf("HEALTHCHECK %q, want relayctl health", hc)
	}
	if ep := find(final, "ENTRYPOINT"); len(ep) != 1 || !strings.Contains(ep[0], `/relayd"`) {
		t.Errorf("ENTRYPOINT %q, want relayd", ep)
	}

	var line string
	for _, run := range find(build, "RUN") {
		if strings.Contains(run, "go build") {
			line = run
		}
	}
	for _, want := range []string{"CGO_ENABLED=0 go build", "-trimpath", "-X main.version=${VERSION}", "-o /out/ ./cmd/relayd ./cmd/relayctl"} {
		if !strings.Contains(line, want) {
			t.Fatalf("the build line %q lacks %q", line, want)
		}
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(line, "/out/", out+"/"))
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "VERSION=v9.9.9-container")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, b)
	}
	for _, bin := range []string{"relayd", "relayctl"} {
		if err := checkStatic(filepath.Join(out, bin)); err != nil {
			t.Error(err)
		}
	}
	// The check can fail: the tests' relayd is built with -race, which needs cgo.
	if err := checkStatic(relaydBin); err == nil {
		t.Errorf("checkStatic(%s) = nil for a -race build", relaydBin)
	}
	if b, err := exec.Command(filepath.Join(out, "relayd"), "--version").Output(); err != nil || !strings.HasPrefix(string(b), "relayd v9.9.9-container ") {
		t.Errorf("relayd --version of the image's build: %q, %v", b, err)
	}
}

// checkStatic says why path is not an ELF executable with no interpreter
// and no shared library, one that runs on an image without a libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s has an interpreter (PT_INTERP): not static", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return err
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries (DT_NEEDED): %v", path, libs)
	}
	return nil
}

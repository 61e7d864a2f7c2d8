package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoRoot returns the git work tree's root, skipping the test outside a
// git checkout (a source tarball).
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git work tree (or no git): %v", err)
	}
	return strings.TrimSpace(string(out))
}

// ignored reports whether git ignores path (relative to root).
func ignored(t *testing.T, root, path string) bool {
	t.Helper()
	cmd := exec.Command("git", "check-ignore", "-q", "--no-index", path)
	cmd.Dir = root
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
		return false
	}
	if err != nil {
		t.Fatalf("git check-ignore %s: %v", path, err)
	}
	return true
}

// TestGitIgnore_LocalFiles: the files a development run and the README's
// recipes leave in the repository root are ignored by git (issue 20), so
// that no key store, master key or credential gets committed.
func TestGitIgnore_LocalFiles(t *testing.T) {
	root := repoRoot(t)
	for _, p := range []string{
		"data/keys.db", "data/master.key", "bin/keyctl", "keyserver", "keyctl",
		"credentials.yaml", "credentials.json", "master.key", "server.key", "server.crt",
		"clients-ca.pem", "keyserver.yaml", ".tools/x",
	} {
		if !ignored(t, root, p) {
			t.Errorf("git does not ignore %s", p)
		}
	}
	// Nothing the repository needs is ignored.
	for _, p := range []string{"docs/keyserver.example.yaml", "internal/testcert/testcert.go", "testdata/x.pem", "cmd/keyserver/main.go"} {
		if ignored(t, root, p) {
			t.Errorf("git ignores %s", p)
		}
	}
}

// redirect finds the files shell lines write: "> file" and "-o file".
var redirect = regexp.MustCompile(`(?:^|[\s;(])(?:\d?>>?|-o)\s*([^\s;&|)>]+)`)

// TestDocs_WriteNoTrackedFiles: every file the shell examples of the
// README and docs/ write is outside the repository (an absolute path or a
// variable) or ignored by git (issue 20: the token recipe wrote
// credentials.yaml into the repository root).
func TestDocs_WriteNoTrackedFiles(t *testing.T) {
	root := repoRoot(t)
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"))
	n := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		inBlock := false
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "```") {
				inBlock = !inBlock
				continue
			}
			if !inBlock && !strings.HasPrefix(line, "    ") {
				continue
			}
			for _, m := range redirect.FindAllStringSubmatch(line, -1) {
				target := strings.Trim(m[1], `"'`)
				if target == "" || strings.HasPrefix(target, "/") || strings.HasPrefix(target, "$") || strings.HasPrefix(target, "&") || strings.HasPrefix(target, "~") {
					continue
				}
				n++
				if !ignored(t, root, target) {
					t.Errorf("%s: %q writes %s, which git would track", filepath.Base(doc), strings.TrimSpace(line), target)
				}
			}
		}
	}
	if n == 0 {
		t.Error("found no file written by the examples: the check checks nothing")
	}
}

// TestDocs_LinksInsideRepository: the README's and docs/' relative links
// name files of the repository (issue 20: the contract was linked as
// ../shared/spec/api.md, outside it).
func TestDocs_LinksInsideRepository(t *testing.T) {
	root := repoRoot(t)
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"))
	link := regexp.MustCompile(`\]\(([^)#\s]+)(?:#[^)]*)?\)|` + "`" + `(\.\./[^` + "`" + `]+)` + "`")
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1] + m[2]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			abs := filepath.Join(filepath.Dir(doc), target)
			if rel, err := filepath.Rel(root, abs); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links %s, outside the repository", filepath.Base(doc), target)
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links %s: %v", filepath.Base(doc), target, err)
			}
		}
	}
}

// Command dockerfile answers, for a Dockerfile and build args, which images BuildKit v0.34.2
// pulls: the `# syntax=` frontend and every stage's base and `COPY --from`/`RUN --mount from`
// source, after BuildKit's own parser (parser.Parse), instruction parser (instructions.Parse)
// and shell lexer (shell.NewLex) have read it. The resolution steps of dockerfile2llb are
// unexported; the few lines needed are copied below, each citing its origin.
//
// In:  {"dockerfile": "<text>", "build_args": {"K": "V"}}
// Out: {"syntax": "...", "stages": [{"base": "...", "name": "...", "platform": "...",
//
//	"stage": false}], "copy_from": ["..."]}  or  {"error": "..."}
//
// "stage" is true when the base names an earlier stage. "copy_from" lists the external
// images of COPY --from and RUN --mount,from= in the order dockerfile2llb meets them.
// All stages count, not only those reachable from the target: the gate cannot know --target.
package main

import (
	"bufio"
	"bytes"
	_ "crypto/sha256" // registers sha256 for digest validation, as in BuildKit
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

type question struct {
	Dockerfile string            `json:"dockerfile"`
	BuildArgs  map[string]string `json:"build_args"`
}

type stageOut struct {
	Base     string `json:"base"`
	Name     string `json:"name"`
	Platform string `json:"platform"`
	Stage    bool   `json:"stage"`
}

type answer struct {
	Syntax   string     `json:"syntax"`
	Stages   []stageOut `json:"stages"`
	CopyFrom []string   `json:"copy_from"`
	Error    string     `json:"error,omitempty"`
}

// envs is an ordered environment (llb.EnvList's AddOrReplace and Get semantics on Linux).
type envs struct {
	keys []string
	vals map[string]string
}

func (e *envs) Get(k string) (string, bool) { v, ok := e.vals[k]; return v, ok }
func (e *envs) Keys() []string              { return e.keys }
func (e *envs) set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[k] = v
}

func (e *envs) remove(k string) {
	if _, ok := e.vals[k]; !ok {
		return
	}
	delete(e.vals, k)
	e.keys = slices.DeleteFunc(e.keys, func(key string) bool { return key == k })
}

func stageNamed(stages []instructions.Stage, name string) bool {
	for _, st := range stages {
		if strings.EqualFold(st.Name, name) {
			return true
		}
	}
	return false
}

// defaultArgs mirrors dockerfile2llb/platform.go defaultArgs for a linux/amd64 build and target.
func defaultArgs(overrides map[string]string, target string) *envs {
	if target == "" {
		target = "default"
	}
	p := platforms.MustParse("linux/amd64")
	s := [...][2]string{
		{"BUILDPLATFORM", platforms.Format(p)},
		{"BUILDOS", p.OS},
		{"BUILDOSVERSION", p.OSVersion},
		{"BUILDARCH", p.Architecture},
		{"BUILDVARIANT", p.Variant},
		{"TARGETPLATFORM", platforms.FormatAll(p)},
		{"TARGETOS", p.OS},
		{"TARGETOSVERSION", p.OSVersion},
		{"TARGETARCH", p.Architecture},
		{"TARGETVARIANT", p.Variant},
		{"TARGETSTAGE", target},
	}
	e := &envs{vals: map[string]string{}}
	for _, kv := range s {
		v := kv[1]
		if ov, ok := overrides[kv[0]]; ok {
			v = ov
		}
		e.set(kv[0], v)
	}
	return e
}

// buildMetaArgs mirrors dockerfile2llb/convert.go buildMetaArgs (values only).
func buildMetaArgs(args *envs, shlex *shell.Lex, argCommands []instructions.ArgCommand, buildArgs map[string]string) error {
	for _, cmd := range argCommands {
		for _, kp := range cmd.Args {
			if v, ok := buildArgs[kp.Key]; !ok {
				if kp.Value != nil {
					result, err := shlex.ProcessWordWithMatches(*kp.Value, args)
					if err != nil {
						return err
					}
					kp.Value = &result.Result
				}
			} else {
				kp.Value = &v
			}
			if kp.Value != nil {
				args.set(kp.Key, *kp.Value)
			}
		}
	}
	return nil
}

// state is dockerfile2llb's dispatchState, reduced to what decides which images are pulled.
type state struct {
	base         string
	name         string
	internal     bool
	unregistered bool
	deps         map[*state]struct{}
}

func syntax(dt []byte, buildArgs map[string]string) string {
	// frontend/dockerfile/builder/build.go: the BUILDKIT_SYNTAX build-arg wins over the directive.
	if cmdline, ok := buildArgs["BUILDKIT_SYNTAX"]; ok {
		return strings.SplitN(strings.TrimSpace(cmdline), " ", 2)[0]
	}
	if ref, _, _, ok := parser.DetectSyntax(dt); ok {
		return ref
	}
	return ""
}

func resolve(q question) (answer, error) {
	dt := []byte(q.Dockerfile)
	out := answer{Syntax: syntax(dt, q.BuildArgs), Stages: []stageOut{}, CopyFrom: []string{}}
	if _, forced := q.BuildArgs["BUILDKIT_SYNTAX"]; forced || out.Syntax != "" {
		// builder/build.go forwardGateway: the frontend is pulled by that reference.
		if _, err := reference.ParseNormalizedNamed(out.Syntax); err != nil {
			return out, fmt.Errorf("syntax frontend %q: %w", out.Syntax, err)
		}
	}
	if len(dt) == 0 {
		return out, errors.New("the Dockerfile cannot be empty")
	}
	result, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return out, err
	}
	stages, metaArgs, err := instructions.Parse(result.AST, nil)
	if err != nil {
		return out, err
	}
	if len(stages) == 0 {
		return out, errors.New("dockerfile contains no stages to build")
	}
	buildArgs := q.BuildArgs
	if buildArgs == nil {
		buildArgs = map[string]string{}
	}
	globalArgs := defaultArgs(buildArgs, stages[len(stages)-1].Name)
	shlex := shell.NewLex(result.EscapeToken)
	if err := buildMetaArgs(globalArgs, shlex, metaArgs, buildArgs); err != nil {
		return out, err
	}

	// dockerfile2llb/convert.go toDispatchState: SOURCE_DATE_EPOCH, with no client
	// (getBuildArgValue, epoch.go resolveSourceDateEpochValue, setBuildArgValue).
	const epochKey = "SOURCE_DATE_EPOCH"
	epoch, ok := buildArgs[epochKey]
	if !ok {
		epoch, ok = globalArgs.Get(epochKey)
		ok = ok && epoch != ""
	}
	if ok {
		formatted := ""
		if sde, err := strconv.ParseInt(epoch, 10, 64); err == nil {
			formatted = strconv.FormatInt(sde, 10)
		} else if epoch != "" && epoch != "context" && !stageNamed(stages, epoch) {
			return out, fmt.Errorf("invalid SOURCE_DATE_EPOCH: %s", epoch)
		}
		if _, ok := globalArgs.Get(epochKey); ok {
			if formatted == "" {
				globalArgs.remove(epochKey)
			} else {
				globalArgs.set(epochKey, formatted)
			}
		}
	}

	// dockerfile2llb/convert.go buildDispatchStates and dispatchStates.addState.
	var states []*state
	byName := map[string]*state{}
	for _, st := range stages {
		nameMatch, err := shlex.ProcessWordWithMatches(st.BaseName, globalArgs)
		if err != nil {
			return out, err
		}
		if nameMatch.Result == "" {
			return out, fmt.Errorf("base name (%s) should not be blank", st.BaseName)
		}
		platform := ""
		if v := st.Platform; v != "" {
			platMatch, err := shlex.ProcessWordWithMatches(v, globalArgs)
			if err != nil {
				return out, fmt.Errorf("failed to process arguments for platform %s: %w", platMatch.Result, err)
			}
			if platMatch.Result == "" {
				return out, fmt.Errorf("empty platform value from expression %s", v)
			}
			if _, err := platforms.Parse(platMatch.Result); err != nil {
				return out, fmt.Errorf("failed to parse platform %s: %w", v, err)
			}
			platform = platMatch.Result
		}
		_, internal := byName[nameMatch.Result]
		ds := &state{base: nameMatch.Result, name: st.Name, internal: internal, deps: map[*state]struct{}{}}
		states = append(states, ds)
		if st.Name != "" {
			byName[strings.ToLower(st.Name)] = ds
		}
		out.Stages = append(out.Stages, stageOut{Base: nameMatch.Result, Name: st.Name, Platform: platform, Stage: internal})
	}

	// dockerfile2llb/convert.go buildStageDependencyGraph, toCommand and detectRunMount.
	findByName := func(name string) *state {
		if ds, ok := byName[strings.ToLower(name)]; ok {
			return ds
		}
		return &state{base: name, unregistered: true, deps: map[*state]struct{}{}}
	}
	seen := map[*state]bool{}
	stageStates := append([]*state(nil), states...)
	for i, st := range stages {
		d := stageStates[i]
		for _, cmd := range st.Commands {
			var sources []*state
			switch c := cmd.(type) {
			case *instructions.CopyCommand:
				if c.From == "" {
					break
				}
				res, err := shlex.ProcessWordWithMatches(c.From, shell.EnvsFromSlice(nil))
				if err != nil {
					return out, err
				}
				if res.Result != c.From {
					return out, errors.New("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround")
				}
				if index, err := strconv.Atoi(c.From); err == nil {
					if index < 0 || index >= len(states) {
						return out, fmt.Errorf("invalid stage index %d", index)
					}
					sources = append(sources, states[index])
				} else {
					sources = append(sources, findByName(c.From))
				}
			case *instructions.RunCommand:
				for _, m := range instructions.GetMounts(c) {
					from := m.From
					if from == "" {
						from = "scratch"
					}
					sources = append(sources, findByName(from))
				}
			}
			for _, src := range sources {
				d.deps[src] = struct{}{}
				if src.unregistered {
					states = append(states, src)
					if !seen[src] && src.base != "scratch" {
						out.CopyFrom = append(out.CopyFrom, src.base)
					}
					seen[src] = true
				}
			}
		}
	}
	if err := circular(states); err != nil {
		return out, err
	}
	// resolveBaseImage: every base that is neither a stage nor scratch must parse as a reference.
	for _, s := range states {
		if s.internal || s.base == "scratch" {
			continue
		}
		if _, err := reference.ParseNormalizedNamed(s.base); err != nil {
			return out, fmt.Errorf("failed to parse stage name %q: %w", s.base, err)
		}
	}
	return out, nil
}

// circular mirrors dockerfile2llb/validations.go validateCircularDependency.
func circular(states []*state) error {
	visited := map[*state]bool{}
	path := map[*state]bool{}
	var visit func(*state) bool
	visit = func(n *state) bool {
		if visited[n] {
			return false
		}
		visited[n] = true
		path[n] = true
		for dep := range n.deps {
			if path[dep] || visit(dep) {
				return true
			}
		}
		delete(path, n)
		return false
	}
	for _, n := range states {
		if visit(n) {
			return fmt.Errorf("circular dependency detected on stage: %s", n.name)
		}
	}
	return nil
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		var q question
		var a answer
		if err := json.Unmarshal(in.Bytes(), &q); err != nil {
			a = answer{Error: "bad question: " + err.Error()}
		} else {
			a, err = resolve(q)
			if err != nil {
				a = answer{Error: err.Error(), Syntax: a.Syntax}
			}
		}
		enc.Encode(a)
		out.Flush()
	}
}

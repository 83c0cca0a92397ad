// Command platforms answers which index entry containerd would choose for a platform.
//
// In:  {"want": "linux/arm/v7", "entries": [{"os":…,"architecture":…,"variant":…} | null, …]}
// Out: {"match": [i, …], "best": i | null, "tied": [i, …], "strict": i | null} or {"error": "…"}
//
// want goes through platforms.Parse, then platforms.Only (what `ctr pull --platform` and
// containerd's client.Pull build from a platform string; platforms.Default() is Only of the
// host's own platform). The entries are filtered and ordered exactly as the index branch of
// containerd's core/images.Manifest (and images.FilterPlatforms + images.LimitManifests) do:
// keep an entry when it has no platform or the matcher matches it, stable-sort by the
// comparer's Less with platform-less entries last, and take the first. "match" is that
// order, "best" its first element, and "tied" the entries with a platform that Less
// cannot tell apart from the best (neither is Less than the other). "strict" is the best under
// platforms.OnlyStrict (exact platform only), what containerd's stricter paths use (CRI's
// transfer-service fetch with platforms.Ordered of the host's platform, `ctr import`).
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"sort"

	"github.com/containerd/platforms"
)

type question struct {
	Want    string            `json:"want"`
	Entries []json.RawMessage `json:"entries"`
}

type answer struct {
	Match  []int  `json:"match"`
	Best   *int   `json:"best"`
	Tied   []int  `json:"tied"`
	Strict *int   `json:"strict"`
	Error  string `json:"error,omitempty"`
}

func decide(q question) answer {
	want, err := platforms.Parse(q.Want)
	if err != nil {
		return answer{Error: err.Error()}
	}
	described := make([]*platforms.Platform, len(q.Entries))
	for i, raw := range q.Entries {
		// A descriptor's platform is *specs.Platform (platforms.Platform): JSON null leaves it nil.
		if err := json.Unmarshal(raw, &described[i]); err != nil {
			return answer{Error: "entry: " + err.Error()}
		}
	}
	out := choose(platforms.Only(want), described)
	if strict := choose(platforms.OnlyStrict(want), described); strict.Best != nil {
		out.Strict = strict.Best
	}
	return out
}

// choose is the index branch of containerd's core/images.Manifest with matcher as the
// platform MatchComparer.
func choose(matcher platforms.MatchComparer, described []*platforms.Platform) answer {
	kept := []int{}
	for i, p := range described {
		if p == nil || matcher.Match(*p) {
			kept = append(kept, i)
		}
	}
	sort.SliceStable(kept, func(a, b int) bool {
		pa, pb := described[kept[a]], described[kept[b]]
		if pa == nil {
			return false
		}
		if pb == nil {
			return true
		}
		return matcher.Less(*pa, *pb)
	})
	out := answer{Match: kept, Tied: []int{}}
	if len(kept) == 0 {
		return out
	}
	best := kept[0]
	out.Best = &best
	if bp := described[best]; bp != nil {
		for _, i := range kept {
			if p := described[i]; p != nil && !matcher.Less(*p, *bp) && !matcher.Less(*bp, *p) {
				out.Tied = append(out.Tied, i)
			}
		}
	}
	return out
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
			a = answer{Error: "question: " + err.Error()}
		} else {
			a = decide(q)
		}
		if err := enc.Encode(a); err != nil {
			os.Exit(1)
		}
		out.Flush()
	}
}

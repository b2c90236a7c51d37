package main

import (
	"flag"
	"fmt"
	"strings"
)

// suggest returns the candidate closest to word when it is close enough to
// be a typo of it ("of" for "off", "stauts" for "status"), else "". Close
// enough: an edit distance (0 for one letter) (insertions, deletions, substitutions and
// swaps of two neighbours) of 1 for words of up to 4 letters, 2 beyond;
// or word is a prefix of exactly one candidate. Among candidates at the
// same distance, one that word is a prefix of wins ("of" is "off", not
// "on"), then the first in order.
func suggest(word string, candidates []string) string {
	if word == "" {
		return ""
	}
	limit := 1
	if len(word) == 1 {
		limit = 0 // one letter is one edit from too much
	} else if len(word) > 4 {
		limit = 2
	}
	best, bestD := "", limit+1
	for _, c := range candidates {
		if c == word {
			return ""
		}
		d := editDistance(word, c)
		if d < bestD || d == bestD && d <= limit && strings.HasPrefix(c, word) && !strings.HasPrefix(best, word) {
			best, bestD = c, d
		}
	}
	if best != "" {
		return best
	}
	var prefixed []string
	for _, c := range candidates {
		if strings.HasPrefix(c, word) {
			prefixed = append(prefixed, c)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b,
// byte-wise (command and flag names are ASCII). Inputs longer than 64 bytes
// are not typos of a name: they get a distance of 64.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// didYouMean returns `; did you mean "X"?` when word looks like a typo of
// one of candidates, else "".
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// undefinedFlagPrefix starts the error flag.FlagSet.Parse returns for a
// flag that is not defined.
const undefinedFlagPrefix = "flag provided but not defined: "

// flagHint returns "; did you mean --NAME?" when err says a flag of fs is
// not defined and its name looks like a typo of one that is, else "".
func flagHint(fs *flag.FlagSet, err error) string {
	name, ok := strings.CutPrefix(err.Error(), undefinedFlagPrefix)
	if !ok {
		return ""
	}
	name = strings.TrimLeft(name, "-")
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if s := suggest(name, names); s != "" {
		return "; did you mean --" + s + "?"
	}
	return ""
}

package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/authzd/authzd/authz"
)

// printChanges lists what applying next over live changes, by type: "+" for
// added, "~" for changed (with a line diff of the entity's YAML), "-" for
// removed. Per type and operation at most limit names are listed unless full.
func printChanges(w io.Writer, p painter, live, next *authz.Config, changes []authz.Change, limit int, full bool) {
	if len(changes) == 0 {
		fmt.Fprintln(w, "no changes")
		return
	}
	byType := map[string][]authz.Change{}
	for _, c := range changes {
		byType[c.Type] = append(byType[c.Type], c)
	}
	for _, t := range authz.ConfigTypes {
		cs := byType[t]
		if len(cs) == 0 {
			continue
		}
		counts := map[string]int{}
		for _, c := range cs {
			counts[c.Op]++
		}
		fmt.Fprintf(w, "%s %s\n", p.paint(ansiBold, authz.FileOf(t)+":"), countText(counts))
		shown := map[string]int{}
		for _, c := range cs {
			if !full && shown[c.Op] == limit {
				shown[c.Op]++
				fmt.Fprintf(w, "  ... %d more %s (--full lists all)\n", counts[c.Op]-limit, c.Op)
				continue
			}
			if !full && shown[c.Op] > limit {
				continue
			}
			shown[c.Op]++
			switch c.Op {
			case "added":
				fmt.Fprintln(w, p.paint(ansiGreen, "  + "+c.Name))
			case "removed":
				fmt.Fprintln(w, p.paint(ansiRed, "  - "+c.Name))
			default:
				fmt.Fprintln(w, p.paint(ansiYellow, "  ~ "+c.Name))
				before, _ := live.EntityYAML(t, c.Name)
				after, _ := next.EntityYAML(t, c.Name)
				for _, l := range lineDiff(before, after) {
					switch l[0] {
					case '+':
						fmt.Fprintln(w, p.paint(ansiGreen, "      "+l))
					case '-':
						fmt.Fprintln(w, p.paint(ansiRed, "      "+l))
					}
				}
			}
		}
	}
}

// countText is "2 added, 1 changed" in a fixed order.
func countText(counts map[string]int) string {
	var parts []string
	for _, op := range []string{"added", "changed", "removed"} {
		if counts[op] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[op], op))
		}
	}
	return strings.Join(parts, ", ")
}

// lineDiff returns the lines only in a ("- ...") or only in b ("+ ..."), in
// the order of a longest common subsequence. Entities are small, so the
// quadratic table is fine.
func lineDiff(a, b string) []string {
	x := strings.Split(strings.TrimRight(a, "\n"), "\n")
	y := strings.Split(strings.TrimRight(b, "\n"), "\n")
	if a == "" {
		x = nil
	}
	if b == "" {
		y = nil
	}
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i++
			j++
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+x[i])
			i++
		default:
			out = append(out, "+ "+y[j])
			j++
		}
	}
	return out
}

// printProblems prints problems, errors first.
func printProblems(w io.Writer, p painter, ps []authz.Problem) {
	for _, warn := range []bool{false, true} {
		for _, pr := range ps {
			if pr.Warning != warn {
				continue
			}
			color := ansiRed
			if warn {
				color = ansiYellow
			}
			fmt.Fprintln(w, p.paint(color, pr.String()))
		}
	}
}

package fsm

import "slices"

// changedKeys merges touched and removed change keys into one sorted list
// without duplicates (a patch may both change and remove under one name).
func changedKeys(touched, removed []string) []string {
	if len(touched)+len(removed) == 0 {
		return nil
	}
	keys := make([]string, 0, len(touched)+len(removed))
	keys = append(keys, touched...)
	keys = append(keys, removed...)
	slices.Sort(keys)
	return slices.Compact(keys)
}

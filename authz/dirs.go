package authz

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Source is a configuration loaded from one or more directories of OpenSearch
// YAML files (authzctl apply, diff, check): what was loaded, which types had a
// file, and where each entity was defined.
type Source struct {
	// Config holds the entities of every directory; a later directory's entity
	// replaces a same-named earlier one, a later document file replaces the
	// earlier document. Statics are not added.
	Config *Config
	// Types are the configuration types (ConfigTypes) that had a file in at
	// least one directory, in ConfigTypes order. A type without any file is
	// not part of the source: applying the source leaves it unchanged.
	Types []string
	// Positions locates the latest definition of every entity: key
	// "<type>/<name>" (the single documents use name "config").
	Positions map[string]Position
}

// Position is a line of a configuration file.
type Position struct {
	File string
	Line int
}

// LoadDirs loads the directories in order, like LoadDir each (the same files,
// rules and errors, with the file's path in messages).
func LoadDirs(dirs ...string) (*Source, error) {
	src := &Source{Config: NewConfig(), Positions: map[string]Position{}}
	present := map[string]bool{}
	for _, dir := range dirs {
		fsys := os.DirFS(dir)
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", dir, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("load %s: not a directory", dir)
		}
		for _, f := range loadFiles {
			data, err := fs.ReadFile(fsys, f.name)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			path := filepath.Join(dir, f.name)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", path, err)
			}
			present[f.ctype] = true
			at := func(ctype, entity string, line int) {
				src.Positions[ctype+"/"+entity] = Position{File: path, Line: line}
			}
			if err := loadBytesAt(path, f.name, data, src.Config, at); err != nil {
				return nil, err
			}
		}
	}
	for _, t := range ConfigTypes {
		if present[t] {
			src.Types = append(src.Types, t)
		}
	}
	return src, nil
}

// Docs returns the documents of the source's types, for Replace or
// PUT /_plugins/_authz/config.
func (s *Source) Docs() map[string][]byte {
	docs := s.Config.Docs(s.Types)
	for _, t := range s.Types {
		if _, ok := docs[t]; !ok {
			// An empty document file (only _meta) still replaces the type.
			docs[t] = []byte("{}")
		}
	}
	return docs
}

// Locate fills in File and Line of problems about entities of the source.
func (s *Source) Locate(ps []Problem) []Problem {
	out := slices.Clone(ps)
	for i, p := range out {
		name := p.Name
		if name == "" {
			name = "config"
		}
		if pos, ok := s.Positions[p.Type+"/"+name]; ok {
			out[i].File, out[i].Line = pos.File, pos.Line
		}
	}
	return out
}

// Package atomicfile writes a file so that readers see either the old
// content or the whole new one: the content goes to a temporary file in
// the same directory, which is then renamed over the path. A crash or an
// error never leaves half a result file (or half a noise file) behind.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write calls write with a temporary file next to path and renames it to
// path when write and the close succeed; on any error the temporary file
// is removed and path is left as it was. pattern names the temporary file
// (os.CreateTemp's pattern, e.g. ".result-*.json").
func Write(path, pattern string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), pattern)
	if err != nil {
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

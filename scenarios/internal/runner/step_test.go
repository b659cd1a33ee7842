package runner

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadSpectrumKeepsTheMaximum: the 100 % line of an .hgrm file has three
// fields, not four; it must not be dropped.
func TestReadSpectrumKeepsTheMaximum(t *testing.T) {
	hgrm := `       Value     Percentile TotalCount 1/(1-Percentile)

       0.050 0.000000000000          1           1.00
       0.237 0.500000000000        100           2.00
       2.029 0.994531250000        199         182.86
       2.103 1.000000000000        200
#[Mean    =        0.289, StdDeviation   =        0.296]
#[Max     =        2.103, Total count    =          200]
`
	path := filepath.Join(t.TempDir(), "x.hgrm")
	if err := os.WriteFile(path, []byte(hgrm), 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err := readSpectrum(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(sp) != 4 || sp[0].US != 50 || sp[3].Percentile != 100 || sp[3].US != 2103 {
		t.Fatalf("spectrum %+v", sp)
	}
}

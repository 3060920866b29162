package firelens_test

import (
	"fmt"

	"github.com/sidewatch/sidewatch/firelens"
)

func ExamplePatch() {
	src := []byte(`
[INPUT]
    Name forward
    Mem_Buf_Limit 25MB
    unix_path /var/run/fluent.sock

[INPUT]
    Name forward
    Listen 127.0.0.1
    Port 24224
`)
	out, err := firelens.Patch(src, []firelens.Setting{
		{Section: firelens.SectionService, Key: "Scheduler.Cap", Value: "60"},
		{Section: firelens.SectionInput, Key: "Mem_Buf_Limit", Value: "50M"},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(out))
	// Output:
	// [INPUT]
	//     Name forward
	//     Mem_Buf_Limit 50M
	//     unix_path /var/run/fluent.sock
	//
	// [INPUT]
	//     Name forward
	//     Listen 127.0.0.1
	//     Port 24224
	//     Mem_Buf_Limit 50M
	//
	// [SERVICE]
	//     Scheduler.Cap 60
}

module github.com/magiclink-go/magiclink

go 1.25

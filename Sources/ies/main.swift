import ArgumentParser

IES.main()

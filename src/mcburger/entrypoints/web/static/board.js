// board page

# placeholder, completed below

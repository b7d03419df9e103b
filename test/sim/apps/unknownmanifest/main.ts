trace("never");

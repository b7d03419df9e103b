import { nothing } from "./lib";
trace(String(nothing));

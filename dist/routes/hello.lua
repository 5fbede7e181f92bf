-- An example route script (/usr/share/doc/portico/lua.md). Every *.lua in
-- this folder runs at start and at each reload; delete or replace it.
route.get("/", function(req)
  return "Portico is running: edit /etc/portico to serve your routes.\n"
end)

# On Citus, bar9.distribute() makes bar9_definer a login role: Citus runs
# the statements of bar9's SECURITY DEFINER functions on the other nodes as
# that role (README, "Scale-out with Citus").  Still no superuser, no
# members, no other right.
/^rolsuper|rolcreaterole|rolcreatedb|rolcanlogin|rolbypassrls|members$/{
n
s/^f|f|f|f|f|0$/f|f|f|t|f|0/
}

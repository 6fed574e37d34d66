// Parser for polc questions and lint assertions; see QueryLexer.g4, docs/query.md and docs/lint.md.
parser grammar QueryParser;

options { tokenVocab = QueryLexer; }

question  : (canQuery | whoQuery | whatQuery) QMARK? EOF ;
canQuery  : CAN endpoint REACH target http? ;
whoQuery  : WHO CAN REACH target ;
whatQuery : WHAT CAN endpoint REACH ;

probe     : endpoint ARROW target http? EOF ;

// One line of an assertions file (`polc lint --assert FILE`).
assertion : claim EOF ;
claim     : endpoint (MUST NOT | CANNOT | CAN NOT) REACH target http?   # mustNotReach
          | endpoint (MUST | CAN) REACH target http?                    # mustReach
          | ONLY endpoint CAN REACH target http?                        # onlyCanReach
          | NO POD KW_IN NAMESPACE name IS REACHABLE FROM endpoint      # noPodReachable
          | target IS NOT REACHABLE FROM endpoint                       # notReachableFrom
          | target IS REACHABLE FROM endpoint                           # reachableFrom
          ;

target    : endpoint port? protocol? ;
port      : COLON (NUMBER | NAME) ;
protocol  : SLASH PROTO ;
http      : METHOD PATH ;

endpoint  : SVC name (SLASH name)?            # serviceEndpoint
          | NODE name                         # nodeEndpoint
          | selector (SLASH selector)?        # selectorEndpoint
          | name SLASH selector               # nsSelectorEndpoint
          | name (SLASH name)?                # namedEndpoint
          | IP                                # ipEndpoint
          | CIDR                              # cidrEndpoint
          | WORLD                             # worldEndpoint
          | ANY                               # anyEndpoint
          ;
// Assertion keywords are names too (a workload may be called `only` or `namespace`).
name      : NAME | NUMBER | MUST | CANNOT | NOT | ONLY | NO | POD | KW_IN | NAMESPACE | IS | REACHABLE | FROM ;

selector    : LBRACE (requirement (COMMA requirement)*)? RBRACE ;
requirement : labelKey (EQ | NEQ) labelValue?          # equalityReq
            | labelKey (IN | NOTIN) LPAREN labelValue (COMMA labelValue)* RPAREN   # setReq
            | BANG labelKey                             # notExistsReq
            | labelKey                                  # existsReq
            ;
labelKey    : labelWord (SEL_SLASH labelWord)? ;
labelWord   : LABEL | IN | NOTIN ;
labelValue  : LABEL | IN | NOTIN ;

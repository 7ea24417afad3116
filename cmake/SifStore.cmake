# SifStore: Apptainer images as first-class products of CMake/Ninja builds.
# Distributed with SifStore; see README.md.

#[=======================================================================[.rst:
SifStore
--------

This module builds Apptainer images (SIF files) as products of a CMake
project.  Each image is a *layer*: a definition file built by
``sifstore build`` into a store, where every build is kept with a timestamp
together with the lock file that records what is installed in it and the
locked definition that rebuilds it.  Ninja builds a layer when, and only
when, one of its inputs changed.

It is found through the package, or comes with the source tree:

.. code-block:: cmake

  find_package(SifStore REQUIRED)      # installed sifstore
  # or
  add_subdirectory(sifstore)           # a copy of the source tree
  # or
  include(FetchContent)
  FetchContent_Declare(SifStore GIT_REPOSITORY ... GIT_TAG ...)
  FetchContent_MakeAvailable(SifStore)

The module runs the ``sifstore`` executable: the one built in the same tree
when SifStore is a subproject (target ``SifStore::sifstore``; it is built
before the images, and rebuilding it rebuilds no image), the installed one
found by ``find_package(SifStore)`` (``SifStore_EXECUTABLE``), or
``SIFSTORE_EXECUTABLE`` when set.

It is made for the Ninja generators; the Makefile generators work too, but
without job pools.

Commands
^^^^^^^^

.. command:: add_sif_layer

  Adds a layer, built into the store from a definition file:

  .. code-block:: cmake

    add_sif_layer(<layer>
                  DEF <file.def>
                  [ROOT <dir>]
                  [FROM <layer>]
                  [DEPENDS <file-or-target>...]
                  [RETAIN <n>]
                  [VERIFY]
                  [EXCLUDE_FROM_ALL]
                  [BUILDER <command>...]
                  [ARGS <key>=<value>...]
                  [BUILD_ARGS <arg>...]
                  [TAKE_OVER]
                  [REBUILD]
                  [SIGN [KEYIDX <n>]]
                  [LAUNCHER <command>...]
                  [JOB_POOL <pool>])

  ``<layer>`` names the image: 1 to 128 characters of ``[A-Za-z0-9._-]``,
  not starting with ``.`` or ``-``, not ending in the suffix of a store
  file (``.sif``, ``.lock``, ``.def``, ``.verified``, ``.unverified``,
  ``.keep``, ``.build.log``).  The names ``prune``, ``list``,
  ``verify`` and ``point-latest`` are taken by the targets below.

  The build runs ``sifstore build``, which stamps a new build
  ``<root>/<layer>/<layer>-<ts>.sif`` (with its ``.lock``, ``.def`` and
  ``.build.log``), moves the layer's stable pointers to it -- the latest
  pointer ``<root>/<layer>.sif`` and beside it ``<root>/<layer>.lock`` and
  ``<root>/<layer>.def`` -- and prunes old builds.

  ``DEF <file.def>``
    The definition file (relative to the current source directory).
    Required; it must exist when CMake runs.  ``sifstore`` runs the builder
    in its directory, so relative ``%files`` sources are relative to it.

  ``ROOT <dir>``
    The store (relative to the current binary directory).  Default:
    ``SIFSTORE_ROOT``, else ``${CMAKE_BINARY_DIR}/containers``.

  ``FROM <layer>``
    The base layer, declared by an earlier ``add_sif_layer()`` call with
    the same ``ROOT``.  The definition must say ``Bootstrap: localimage``
    (in its final stage, else in its only such stage):
    the build starts from the base layer's active build, and the locked
    definition names that exact timestamped image.  The layer is rebuilt
    whenever the base layer is.

  ``DEPENDS <file-or-target>...``
    More inputs: files whose change rebuilds the layer, or targets built
    before it.  The definition file, its ``%files`` sources and the base
    layer need not be listed: the build reports them to Ninja in a
    depfile.

  ``RETAIN <n>``
    How many builds the prune step keeps besides the active one and those
    protected with ``sifstore protect``, 0 to 2147483647.  Default:
    ``images.retain`` of the store's ``config.yaml`` (where 0 is taken for
    a mistake and means the default), else 10.

  ``VERIFY``
    Rebuild from the locked definition after each build and mark the build
    ``.verified`` or ``.unverified`` (the round trip).

  ``EXCLUDE_FROM_ALL``
    Do not build the layer with the ``all`` target.

  ``BUILDER <command>...``
    The builder command line.  Default: ``SIFSTORE_BUILDER``, else the
    ``SIFSTORE_BUILDER`` environment variable at build time, else
    ``apptainer``.

  ``ARGS <key>=<value>...``
    Build arguments: the values of the definition's ``{{ key }}``
    templates (``sifstore build --build-arg key=value``), e.g.
    ``ARGS mirror=http://deb.debian.org/debian``.  ``sifstore`` renders
    them itself (any Apptainer version, 1.1 included), records them in the
    build's lock, and the locked definition has them rendered, so it
    rebuilds (``sifstore verify``) without them.  A key is letters, digits
    and ``_``; a value without ``=`` fails at configure time.  Values end up
    in the build command line and the lock: no secrets here (``sifstore
    build --secret-build-arg``).

  ``BUILD_ARGS <arg>...``
    Extra words for ``<builder> build`` (``sifstore build --builder-arg``),
    e.g. ``--fakeroot``.

  ``TAKE_OVER``
    Build the layer even when its store's builds of it were made from
    another definition (``sifstore build --take-over``): a project moved or
    renamed keeps its layers.  Without it, such a build is refused, since
    two projects sharing a store and a layer name would cross their images.

  ``REBUILD``
    Run the builder on every build of the layer (``sifstore build
    --rebuild``).  Without it, a build whose input key -- the rendered
    definition, its ``%files`` sources (contents and modes), the base
    image's sha256 or registry digest, the builder, its arguments and
    version -- equals that of a published build of the layer reuses that
    build: the latest pointer moves to it, no builder runs, and the stamp
    and depfile are written as by a build.  Use it for a layer whose
    definition installs unpinned packages or starts from a moving base
    (``From: debian:bookworm`` without a digest, ``apt-get upgrade`` in
    ``%post``), where the same inputs do not make the same image.  A store
    can turn reuse off for every build with ``build: {reuse: false}`` in
    its ``config.yaml``.

  ``SIGN [KEYIDX <n>]``
    Sign the image with ``<builder> sign`` (the key of index ``<n>`` with
    ``KEYIDX``) before it is published (``sifstore build --sign
    [--keyidx n]``), so the published image, its sha256 in the lock and its
    embedded provenance agree.  ``KEYIDX`` without ``SIGN`` fails at
    configure time.

  ``LAUNCHER <command>...``
    A command that runs the build, e.g. ``srun -p build -c 8`` to build on
    a cluster node.  The store and the binary directory must be visible
    there.  Default: ``SIFSTORE_LAUNCHER``.

  ``JOB_POOL <pool>``
    The Ninja job pool of the build (see :prop_gbl:`JOB_POOLS`), e.g. to
    build at most two layers at a time.  Default: ``SIFSTORE_JOB_POOL``.

  The list keywords ``DEPENDS``, ``BUILDER``, ``ARGS``, ``BUILD_ARGS`` and
  ``LAUNCHER`` accept an empty list, as CMake's own commands do, so that
  a list variable can be passed whatever it holds: ``BUILD_ARGS ${args}``
  with ``args`` empty (or ``BUILD_ARGS "${args}"``) is the same as leaving
  the keyword out.  Empty strings in a list are dropped.  So an empty
  ``DEPENDS`` or ``BUILD_ARGS`` adds nothing, and an empty ``BUILDER`` or
  ``LAUNCHER`` means the default (``SIFSTORE_BUILDER``,
  ``SIFSTORE_LAUNCHER``), never an empty command.

  Bad arguments fail at configure time, with a message naming the
  argument: an unknown word (an empty string included), a single-value
  keyword (``DEF``, ``ROOT``, ``FROM``, ``RETAIN``, ``JOB_POOL``) without
  a value or with an empty string (e.g. ``ROOT "${unset}"``: the default
  is not used in its place), and a single-value keyword given more than
  once.

  The command defines these targets:

  ``sif-<layer>``
    Builds the layer (part of ``all`` unless ``EXCLUDE_FROM_ALL``).  Its
    properties tell other rules where the layer's products are:

    ``SIFSTORE_IMAGE``, ``SIFSTORE_LOCK``, ``SIFSTORE_DEF``
      The stable pointers ``<root>/<layer>.sif``, ``.lock`` and ``.def``:
      the active build's image, lock and locked definition, e.g.
      ``$<TARGET_PROPERTY:sif-app,SIFSTORE_LOCK>``.
    ``SIFSTORE_STAMP``
      The file Ninja builds for the layer,
      ``<binary dir>/CMakeFiles/sifstore/<layer>.stamp``, written last by a
      build that published.
    ``SIFSTORE_LAYER``, ``SIFSTORE_ROOT``
      The layer's name and store.

  ``sif-<layer>-prune``
    Prunes the layer's old builds (``RETAIN``), without building.

  ``sif-<layer>-point-latest``
    Points the layer's latest pointer at its newest build, without building.

  and, over all layers of the project, ``sif-prune``, ``sif-point-latest``,
  ``sif-list`` (prints each layer's builds) and ``sif-verify`` (builds what
  is out of date, then round-trip verifies each layer's active build).

.. command:: install_sif_layer

  Installs a layer's active build, so that ``cmake --install`` and CPack
  ship images like any other product:

  .. code-block:: cmake

    install_sif_layer(<layer> DESTINATION <dir> [COMPONENT <component>])

  The image, lock and locked definition of the build the latest pointer
  names *when the install runs* (after a ``rollback``, the rolled-back
  build) are installed into ``<dir>`` (relative to the install prefix, or
  absolute; ``DESTDIR`` applies) as regular files named ``<layer>.sif``,
  ``<layer>.lock`` and ``<layer>.def``: stable names for the users of the
  prefix, and copies, since ``install(FILES)`` would copy the pointers as
  symlinks that dangle in the prefix.  The lock and definition are read
  from the build itself, so the three always belong together.  The
  ``<ts>`` stays recorded in the store; the installed locked definition
  names its base image by its path in the store.  The layer must be
  declared first, and built before the install: a missing or foreign latest
  pointer fails the install with a message.

  What Ninja knows, and when a layer is rebuilt:

  * The build's registered output is the layer's stamp
    (``SIFSTORE_STAMP``), never a pointer: Ninja deletes the outputs and
    byproducts of a command it interrupts (Ctrl-C, ``SIGTERM``, a dropped
    session's ``SIGHUP``) when the command has a depfile, and ``ninja -t
    clean`` deletes them too; a deleted pointer would break every user of
    the image and undo a ``rollback``.  The pointers are SifStore's alone.
    ``sifstore build`` writes the stamp last, once the build is published
    (and verified, with ``VERIFY``); also when it left the latest pointer
    on a newer build of the layer published meanwhile (by another build
    directory), since this build's inputs are then built.  An interrupted
    or failed build leaves no stamp, and the next ``ninja`` builds it.
  * With the Ninja generators the three stable pointers are *phony*
    outputs of the stamp (a custom command without a ``COMMAND``): a rule
    that uses a product lists the pointer in its ``DEPENDS``, e.g.
    ``DEPENDS $<TARGET_PROPERTY:sif-app,SIFSTORE_LOCK>``, and reruns when
    the layer is rebuilt, not otherwise.  Ninja never runs, interrupts or
    cleans a phony edge, so it never deletes a pointer.  (This is why they
    are not the byproducts of ``sif-<layer>``: Ninja deletes byproducts as
    it deletes outputs.)  With the Makefile generators, whose ``clean``
    would delete them, rules depend on the ``sif-<layer>`` target or on
    ``SIFSTORE_STAMP`` and read the pointers in their commands.
  * The build's depfile lists the definition, every host file its
    ``%files`` sections copy (a directory with everything below it) and the
    base layer's pointer; a ``FROM`` layer also depends on the base's stamp.
    Touching any of them, a ``DEPENDS`` file, or rebuilding the base layer
    rebuilds this layer and every layer built ``FROM`` it, nothing else.  A
    second ``ninja`` does nothing.
  * Ninja also reruns a build whose command changed: a different
    ``BUILDER``, ``ARGS``, ``BUILD_ARGS``, ``FROM``, ``RETAIN``, ``VERIFY``,
    ``LAUNCHER``, ``ROOT`` or ``sifstore`` path rebuilds that layer (and
    those built ``FROM`` it).  Re-running CMake alone rebuilds nothing.
  * When Ninja reruns a build whose inputs are those of a published build
    of the layer (a touched but unchanged file, a reverted edit, a second
    build directory on the same ``ROOT``), ``sifstore build`` reuses that
    build (``sifstore: reused <layer>-<ts>``): latest moves to it, no
    builder runs, the stamp is written, and the next ``ninja`` does
    nothing.  ``REBUILD`` (or ``build.reuse: false`` in the store's
    ``config.yaml``) builds anew instead.
  * ``ninja clean`` removes the stamps and depfiles, never a pointer or a
    timestamped build: the next ``ninja`` runs every layer's build again
    (reusing what has the same inputs, building anew with ``REBUILD``),
    while the images stay in use; the old builds stay until ``RETAIN``
    prunes them.
  * A failed or interrupted build leaves the layer's pointers and its
    history as they were; Ninja prints ``sifstore``'s error, which names
    the build log, and tries the build again on the next run.
  * The three pointers move together (``.lock``, ``.def``, then ``.sif``,
    each an atomic rename, interrupts held back meanwhile): whenever
    ``<layer>.sif`` names a build, ``<layer>.lock`` and ``<layer>.def``
    were moved to it first.  A reader racing a publish may see ``.lock``
    and ``.def`` one build ahead of ``.sif``, never behind; one that needs
    the three to agree reads ``.sif``, then the others, and reads again
    when their ``<ts>`` differ.  ``sifstore fsck`` reports pointers that
    disagree (e.g. after another tool moved only ``.sif``) and
    ``fsck --repair`` realigns them with ``.sif``.
  * Upgrading a build directory made by a SifStore whose registered output
    was the pointer: the first ``ninja`` after CMake re-runs builds each
    layer once (no stamps yet); the pointers are kept.
  * Layers build in parallel, as far as ``-j`` and ``FROM`` allow; Ninja
    prints one summary line per build (``sifstore: built <layer>-<ts>:
    ...``), and the builder's output goes to the build log, whose path an
    error names.  With ``SIFSTORE_USES_TERMINAL`` the builds of layers
    without a job pool use Ninja's ``console`` pool instead: the builder's
    output streams to the terminal, one build at a time.

Variables
^^^^^^^^^

These set project-wide defaults for the arguments of the same name; set
them before calling ``add_sif_layer()``.

.. variable:: SIFSTORE_ROOT

  The store of layers without ``ROOT``.

.. variable:: SIFSTORE_BUILDER

  The builder command line (a list) of layers without ``BUILDER``.

.. variable:: SIFSTORE_LAUNCHER

  The launcher command line (a list) of layers without ``LAUNCHER``.

.. variable:: SIFSTORE_JOB_POOL

  The job pool of layers without ``JOB_POOL``.

.. variable:: SIFSTORE_USES_TERMINAL

  When true, builds of layers without a job pool run in Ninja's
  ``console`` pool and stream the builder's output.

.. variable:: SIFSTORE_EXECUTABLE

  The ``sifstore`` to run, overriding the one the module found.

Example
^^^^^^^

.. code-block:: cmake

  find_package(SifStore REQUIRED)
  set_property(GLOBAL APPEND PROPERTY JOB_POOLS sif=2)
  set(SIFSTORE_JOB_POOL sif)

  add_sif_layer(base DEF base.def RETAIN 3)
  add_sif_layer(python DEF python.def FROM base)
  add_sif_layer(app DEF app.def FROM python
                DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/app/requirements.txt
                VERIFY)

  add_test(NAME app-runs
           COMMAND apptainer run $<TARGET_PROPERTY:sif-app,SIFSTORE_IMAGE>)

  # A report that reruns whenever app is rebuilt.
  add_custom_command(OUTPUT app-packages.txt
    COMMAND ${CMAKE_COMMAND} -E copy $<TARGET_PROPERTY:sif-app,SIFSTORE_LOCK> app-packages.txt
    DEPENDS $<TARGET_PROPERTY:sif-app,SIFSTORE_LOCK>
    VERBATIM)

  install_sif_layer(app DESTINATION share/images)
#]=======================================================================]

include_guard(GLOBAL)

cmake_policy(PUSH)
cmake_policy(VERSION 3.20...3.25)
# DEPFILE paths are transformed for Ninja (the functions below record this
# setting where they are defined).
cmake_policy(SET CMP0116 NEW)
# An empty string after a single-value keyword is a value (add_sif_layer()
# refuses it either way; NEW only spares the policy warning).
if(POLICY CMP0174)
  cmake_policy(SET CMP0174 NEW)
endif()

# The sifstore executable for COMMAND lines, and how to depend on it.
function(_sifstore_executable out)
  if(SIFSTORE_EXECUTABLE)
    set(exe "${SIFSTORE_EXECUTABLE}")
  elseif(TARGET SifStore::sifstore)
    # A subproject's target or the package's imported one. A generator
    # expression naming a target adds a target-level dependency only, so
    # rebuilding sifstore does not rebuild the images.
    set(exe "$<TARGET_FILE:SifStore::sifstore>")
  else()
    find_program(SIFSTORE_EXECUTABLE sifstore
      DOC "The sifstore executable run by add_sif_layer()")
    if(NOT SIFSTORE_EXECUTABLE)
      message(FATAL_ERROR
        "add_sif_layer: cannot find sifstore. Use find_package(SifStore), "
        "add_subdirectory() of the SifStore source tree, or set SIFSTORE_EXECUTABLE.")
    endif()
    set(exe "${SIFSTORE_EXECUTABLE}")
  endif()
  set(${out} "${exe}" PARENT_SCOPE)
endfunction()

# Joins a command (a list of words) into one command line that sifstore
# splits back into the same words: backslashes, quotes and blanks escaped.
function(_sifstore_command_line out)
  set(line "")
  foreach(word IN LISTS ARGN)
    string(REGEX REPLACE "([\\\\'\" \t])" "\\\\\\1" word "${word}")
    if(line STREQUAL "")
      set(line "${word}")
    else()
      string(APPEND line " ${word}")
    endif()
  endforeach()
  set(${out} "${line}" PARENT_SCOPE)
endfunction()

# The bootstrap agents of the stages of a definition file, in order,
# lower-cased (empty when it has no Bootstrap line). A quick look only: the
# def's one parser is core/deffile, which `sifstore build` runs (the base is
# the final stage when it says localimage, else the only stage that does).
function(_sifstore_def_bootstrap def out)
  file(STRINGS "${def}" lines REGEX "^[Bb][Oo][Oo][Tt][Ss][Tt][Rr][Aa][Pp][ \t]*:")
  set(agents "")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[^:]*:[ \t]*([^ \t#]*).*$" "\\1" agent "${line}")
    string(TOLOWER "${agent}" agent)
    list(APPEND agents "${agent}")
  endforeach()
  set(${out} "${agents}" PARENT_SCOPE)
endfunction()

function(add_sif_layer layer)
  set(options VERIFY EXCLUDE_FROM_ALL TAKE_OVER REBUILD SIGN)
  set(one_value ROOT DEF FROM RETAIN JOB_POOL KEYIDX)
  set(multi_value DEPENDS BUILDER ARGS BUILD_ARGS LAUNCHER)
  set(where "add_sif_layer(${layer})")
  if(layer IN_LIST options OR layer IN_LIST one_value OR layer IN_LIST multi_value)
    message(FATAL_ERROR
      "add_sif_layer: the first argument is the layer name, not the keyword ${layer}")
  endif()
  cmake_parse_arguments(PARSE_ARGV 1 arg "${options}" "${one_value}" "${multi_value}")
  # An empty string is an argument too ("${unset_variable}").
  if(DEFINED arg_UNPARSED_ARGUMENTS)
    set(unknown " \"\"")  # one empty string, which foreach would skip
    if(NOT arg_UNPARSED_ARGUMENTS STREQUAL "")
      set(unknown "")
      foreach(word IN LISTS arg_UNPARSED_ARGUMENTS)
        if(word STREQUAL "")
          set(word "\"\"")
        endif()
        string(APPEND unknown " ${word}")
      endforeach()
    endif()
    message(FATAL_ERROR "${where}: unknown argument(s):${unknown} (the keywords are "
      "DEF ROOT FROM DEPENDS RETAIN VERIFY EXCLUDE_FROM_ALL BUILDER ARGS BUILD_ARGS LAUNCHER "
      "JOB_POOL TAKE_OVER REBUILD SIGN KEYIDX)")
  endif()
  # A single-value keyword needs a value. A list keyword may be given an
  # empty list (`BUILD_ARGS ${args}` with args empty): that is the same as
  # not giving it.
  foreach(keyword IN LISTS arg_KEYWORDS_MISSING_VALUES)
    if(keyword IN_LIST one_value)
      message(FATAL_ERROR "${where}: ${keyword} needs a value")
    endif()
  endforeach()
  # What cmake_parse_arguments lets through: a single-value keyword given
  # twice (the last value would win), and a single-value keyword whose value
  # is an empty string (the default would be used). The words are walked as
  # cmake_parse_arguments walks them: every keyword word starts a keyword.
  set(keyword "")
  set(has_value FALSE)
  set(given "")
  set(keywords ${options} ${one_value} ${multi_value})
  foreach(i RANGE 1 ${ARGC})
    if(i LESS ARGC)
      set(word "${ARGV${i}}")
      if(word STREQUAL "" OR NOT word IN_LIST keywords)
        if(NOT word STREQUAL "")
          set(has_value TRUE)
        endif()
        continue()
      endif()
    else()
      set(word "")  # the end of the arguments
    endif()
    # The end of the previous keyword's values.
    if(keyword IN_LIST one_value AND NOT has_value)
      message(FATAL_ERROR "${where}: ${keyword} needs a value, not an empty string")
    endif()
    if(word IN_LIST one_value)
      if(word IN_LIST given)
        message(FATAL_ERROR "${where}: ${word} is given more than once; give it once")
      endif()
      list(APPEND given ${word})
    endif()
    set(keyword "${word}")
    set(has_value FALSE)
  endforeach()
  # A list keyword's empty strings are empty list elements, dropped; a list
  # keyword left empty takes its default, as if it were not given.
  foreach(keyword IN LISTS multi_value)
    if(DEFINED arg_${keyword})
      list(REMOVE_ITEM arg_${keyword} "")
      if(arg_${keyword} STREQUAL "")
        unset(arg_${keyword})
      endif()
    endif()
  endforeach()

  # The layer name, as sifstore checks it.
  string(LENGTH "${layer}" length)
  if(NOT layer MATCHES "^[A-Za-z0-9_][A-Za-z0-9._-]*$" OR length GREATER 128)
    message(FATAL_ERROR "${where}: invalid layer name '${layer}': a layer name is 1 to 128 "
      "characters of A-Z a-z 0-9 . _ - and does not start with '.' or '-'")
  endif()
  # Nor end in the suffix of a store file (core/names: artifact_suffix), or
  # layer x.sif would be the directory where layer x has its pointer.
  if(layer MATCHES "(\\.sif|\\.lock|\\.def|\\.verified|\\.unverified|\\.keep|\\.build\\.log)$")
    message(FATAL_ERROR "${where}: invalid layer name '${layer}': it ends in "
      "'${CMAKE_MATCH_1}', the suffix of a store file (the latest pointer of another layer or "
      "a build's artifact would collide with it)")
  endif()
  # Names used by the all-layer targets.
  set(reserved prune list verify point-latest)
  if(layer IN_LIST reserved)
    message(FATAL_ERROR "${where}: the layer name '${layer}' is taken by the target "
      "sif-${layer}, which acts on all layers; choose another name")
  endif()
  get_property(declared GLOBAL PROPERTY SIFSTORE_LAYERS)
  if(layer IN_LIST declared)
    get_property(at GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_DECLARED_IN)
    message(FATAL_ERROR "${where}: layer '${layer}' is already declared (in ${at})")
  endif()
  foreach(target sif-${layer} sif-${layer}-prune sif-${layer}-point-latest)
    if(TARGET ${target})
      message(FATAL_ERROR "${where}: a target named ${target} already exists; "
        "choose another layer name")
    endif()
  endforeach()

  # DEF
  if(NOT DEFINED arg_DEF)
    message(FATAL_ERROR "${where}: DEF <file.def> is required")
  endif()
  get_filename_component(def "${arg_DEF}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT EXISTS "${def}" OR IS_DIRECTORY "${def}")
    message(FATAL_ERROR "${where}: DEF file not found: ${def}")
  endif()

  # ROOT
  if(DEFINED arg_ROOT)
    set(root "${arg_ROOT}")
  elseif(SIFSTORE_ROOT)
    set(root "${SIFSTORE_ROOT}")
  else()
    set(root "${CMAKE_BINARY_DIR}/containers")
  endif()
  get_filename_component(root "${root}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  set(image "${root}/${layer}.sif")

  # RETAIN
  if(DEFINED arg_RETAIN AND NOT arg_RETAIN MATCHES "^[0-9]+$")
    message(FATAL_ERROR "${where}: RETAIN must be a non-negative integer, got '${arg_RETAIN}'")
  endif()
  # As `sifstore build --retain` reads it (an int): a larger value would
  # pass here and fail at build time.
  if(DEFINED arg_RETAIN AND arg_RETAIN GREATER 2147483647)
    message(FATAL_ERROR "${where}: RETAIN ${arg_RETAIN} is out of range (0 to 2147483647)")
  endif()

  # FROM
  set(from_args "")
  set(from_depends "")
  if(DEFINED arg_FROM)
    if(arg_FROM STREQUAL layer)
      message(FATAL_ERROR "${where}: FROM names the layer itself")
    endif()
    if(NOT arg_FROM IN_LIST declared)
      message(FATAL_ERROR "${where}: FROM names layer '${arg_FROM}', which is not declared: "
        "declare it with add_sif_layer(${arg_FROM} ...) before the layers built FROM it")
    endif()
    get_property(base_root GLOBAL PROPERTY SIFSTORE_LAYER_${arg_FROM}_ROOT)
    if(NOT base_root STREQUAL root)
      message(FATAL_ERROR "${where}: FROM layer '${arg_FROM}' is in ROOT ${base_root}, this "
        "layer in ROOT ${root}; a layer and its base must share a store")
    endif()
    _sifstore_def_bootstrap("${def}" agents)
    if(NOT "localimage" IN_LIST agents AND NOT agents MATCHES "{{")
      list(POP_BACK agents agent)
      message(FATAL_ERROR "${where}: with FROM, the DEF must say `Bootstrap: localimage` "
        "(${def} says `Bootstrap: ${agent}`)")
    endif()
    set(from_args --from ${arg_FROM})
    get_property(base_stamp GLOBAL PROPERTY SIFSTORE_LAYER_${arg_FROM}_STAMP)
    set(from_depends "${base_stamp}" sif-${arg_FROM})
  endif()

  # BUILDER, BUILD_ARGS, LAUNCHER, JOB_POOL
  set(builder_args "")
  if(DEFINED arg_BUILDER)
    set(builder ${arg_BUILDER})
  else()
    set(builder ${SIFSTORE_BUILDER})
  endif()
  if(builder)
    _sifstore_command_line(builder_line ${builder})
    list(APPEND builder_args "--builder=${builder_line}")
  endif()
  foreach(word IN LISTS arg_BUILD_ARGS)
    list(APPEND builder_args "--builder-arg=${word}")
  endforeach()
  # ARGS: build arguments, for the build only (the locked def has them rendered).
  set(build_arg_options "")
  foreach(kv IN LISTS arg_ARGS)
    if(NOT kv MATCHES "^[A-Za-z0-9_]+=")
      message(FATAL_ERROR "${where}: ARGS takes <key>=<value> (key: letters, digits, _ as in "
        "{{ key }}), not '${kv}'; extra words for the builder go in BUILD_ARGS")
    endif()
    list(APPEND build_arg_options "--build-arg=${kv}")
  endforeach()
  if(DEFINED arg_LAUNCHER)
    set(launcher ${arg_LAUNCHER})
  else()
    set(launcher ${SIFSTORE_LAUNCHER})
  endif()
  if(DEFINED arg_JOB_POOL)
    set(pool "${arg_JOB_POOL}")
  else()
    set(pool "${SIFSTORE_JOB_POOL}")
  endif()

  set(build_options "")
  if(DEFINED arg_RETAIN)
    list(APPEND build_options --retain ${arg_RETAIN})
  endif()
  if(arg_VERIFY)
    list(APPEND build_options --verify)
  endif()
  if(arg_TAKE_OVER)
    list(APPEND build_options --take-over)
  endif()
  if(arg_REBUILD)
    list(APPEND build_options --rebuild)
  endif()
  if(DEFINED arg_KEYIDX AND NOT arg_SIGN)
    message(FATAL_ERROR "${where}: KEYIDX goes with SIGN (the key signing the image)")
  endif()
  if(DEFINED arg_KEYIDX AND NOT arg_KEYIDX MATCHES "^[0-9]+$")
    message(FATAL_ERROR "${where}: KEYIDX must be a non-negative integer, got '${arg_KEYIDX}'")
  endif()
  if(arg_SIGN)
    list(APPEND build_options --sign)
    if(DEFINED arg_KEYIDX)
      list(APPEND build_options --keyidx ${arg_KEYIDX})
    endif()
  endif()
  set(pool_options "")
  if(pool)
    set(pool_options JOB_POOL ${pool})
    list(APPEND build_options -q)
  elseif(SIFSTORE_USES_TERMINAL)
    set(pool_options USES_TERMINAL)
  else()
    list(APPEND build_options -q)
  endif()

  _sifstore_executable(sifstore)
  # Ninja's output is the stamp, never a pointer: Ninja deletes the outputs
  # (and byproducts) of a command it interrupts when the command has a
  # depfile, and `ninja -t clean` deletes them too. `sifstore build` writes
  # the stamp last, once the build is published.
  set(stamp_dir "${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/sifstore")
  set(stamp "${stamp_dir}/${layer}.stamp")
  set(depfile "${stamp_dir}/${layer}.d")
  set(lock "${root}/${layer}.lock")
  set(locked_def "${root}/${layer}.def")
  file(MAKE_DIRECTORY "${stamp_dir}" "${root}")
  add_custom_command(
    OUTPUT "${stamp}"
    COMMAND ${launcher} "${sifstore}" --root "${root}" build ${layer} --def "${def}"
            ${from_args} ${builder_args} ${build_arg_options} ${build_options}
            --depfile "${depfile}" --depfile-target "${stamp}" --stamp "${stamp}"
    DEPENDS "${def}" ${from_depends} ${arg_DEPENDS}
    DEPFILE "${depfile}"
    WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}"
    COMMENT "Building SIF layer ${layer}"
    ${pool_options}
    VERBATIM)
  set(pointers "")
  if(CMAKE_GENERATOR MATCHES "Ninja")
    # The three stable pointers are phony outputs (a custom command without
    # a COMMAND) of the stamp: a rule may list them in its DEPENDS, and
    # Ninja never runs, interrupts or cleans a phony edge, so it never
    # deletes them. (The Makefile generators' `clean` would remove them:
    # there, rules depend on the stamp.)
    set(pointers "${image}" "${lock}" "${locked_def}")
    add_custom_command(OUTPUT ${pointers} DEPENDS "${stamp}" VERBATIM)
  endif()

  set(all ALL)
  if(arg_EXCLUDE_FROM_ALL)
    set(all "")
  endif()
  add_custom_target(sif-${layer} ${all} DEPENDS "${stamp}" ${pointers})
  set_target_properties(sif-${layer} PROPERTIES
    SIFSTORE_LAYER "${layer}" SIFSTORE_ROOT "${root}" SIFSTORE_IMAGE "${image}"
    SIFSTORE_LOCK "${lock}" SIFSTORE_DEF "${locked_def}" SIFSTORE_STAMP "${stamp}")

  set(retain_args "")
  if(DEFINED arg_RETAIN)
    set(retain_args --retain ${arg_RETAIN})
  endif()
  add_custom_target(sif-${layer}-prune
    COMMAND "${sifstore}" --root "${root}" prune ${layer} ${retain_args}
    COMMENT "Pruning SIF layer ${layer}"
    VERBATIM)
  set(point_latest_script "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/SifStorePointLatest.cmake")
  add_custom_target(sif-${layer}-point-latest
    COMMAND "${CMAKE_COMMAND}" "-DSIFSTORE=${sifstore}" "-DROOT=${root}" "-DLAYER=${layer}"
            -P "${point_latest_script}"
    COMMENT "Pointing ${layer}.sif at the newest build"
    VERBATIM)

  # What the all-layer targets need to know.
  set_property(GLOBAL APPEND PROPERTY SIFSTORE_LAYERS "${layer}")
  set_property(GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_ROOT "${root}")
  set_property(GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_IMAGE "${image}")
  set_property(GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_STAMP "${stamp}")
  set_property(GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_DECLARED_IN "${CMAKE_CURRENT_LIST_FILE}")
  set_property(GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_SIFSTORE "${sifstore}")
  set_property(GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_VERIFY_COMMAND
    ${launcher} "${sifstore}" --root "${root}" verify ${layer} ${builder_args} -q)
  set_property(GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_POOL "${pool}")
  get_property(scheduled GLOBAL PROPERTY SIFSTORE_AGGREGATES_SCHEDULED)
  if(NOT scheduled)
    set_property(GLOBAL PROPERTY SIFSTORE_AGGREGATES_SCHEDULED TRUE)
    cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" ID sifstore_aggregates
      CALL _sifstore_finish)
  endif()
endfunction()

function(install_sif_layer layer)
  set(where "install_sif_layer(${layer})")
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "DESTINATION;COMPONENT" "")
  if(DEFINED arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "${where}: unknown argument(s): ${arg_UNPARSED_ARGUMENTS} "
      "(the keywords are DESTINATION COMPONENT)")
  endif()
  foreach(keyword IN LISTS arg_KEYWORDS_MISSING_VALUES)
    message(FATAL_ERROR "${where}: ${keyword} needs a value")
  endforeach()
  if(NOT DEFINED arg_DESTINATION OR arg_DESTINATION STREQUAL "")
    message(FATAL_ERROR "${where}: DESTINATION <dir> is required")
  endif()
  get_property(declared GLOBAL PROPERTY SIFSTORE_LAYERS)
  if(NOT layer IN_LIST declared)
    message(FATAL_ERROR "${where}: layer '${layer}' is not declared: call "
      "add_sif_layer(${layer} ...) before install_sif_layer(${layer} ...)")
  endif()
  get_property(root GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_ROOT)
  set(component "")
  if(DEFINED arg_COMPONENT)
    set(component COMPONENT "${arg_COMPONENT}")
  endif()
  # The pointers move at build time: they are read when `cmake --install`
  # runs, by a script that comes with this module.
  set(script "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/SifStoreInstallLayer.cmake")
  string(CONFIGURE [[
set(SIFSTORE_INSTALL_ROOT [==[@root@]==])
set(SIFSTORE_INSTALL_LAYER [==[@layer@]==])
set(SIFSTORE_INSTALL_DESTINATION [==[@arg_DESTINATION@]==])
include([==[@script@]==])
]] code @ONLY)
  install(CODE "${code}" ${component})
endfunction()

# Runs at the end of the top-level directory: checks what could not be
# checked earlier and adds the targets that act on every layer.
function(_sifstore_finish)
  get_property(layers GLOBAL PROPERTY SIFSTORE_LAYERS)
  get_property(pools GLOBAL PROPERTY JOB_POOLS)
  set(pool_names console)
  foreach(pool IN LISTS pools)
    string(REGEX REPLACE "=.*$" "" pool "${pool}")
    list(APPEND pool_names "${pool}")
  endforeach()
  set(prune_commands "")
  set(point_commands "")
  set(list_commands "")
  set(verify_commands "")
  set(builds "")
  foreach(layer IN LISTS layers)
    get_property(pool GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_POOL)
    if(pool AND NOT pool IN_LIST pool_names AND CMAKE_GENERATOR MATCHES "Ninja")
      get_property(at GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_DECLARED_IN)
      message(FATAL_ERROR "add_sif_layer(${layer}) in ${at}: JOB_POOL '${pool}' is not defined; "
        "define it with set_property(GLOBAL APPEND PROPERTY JOB_POOLS ${pool}=<n>)")
    endif()
    get_property(root GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_ROOT)
    get_property(sifstore GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_SIFSTORE)
    get_property(verify GLOBAL PROPERTY SIFSTORE_LAYER_${layer}_VERIFY_COMMAND)
    list(APPEND point_commands COMMAND "${CMAKE_COMMAND}" "-DSIFSTORE=${sifstore}"
      "-DROOT=${root}" "-DLAYER=${layer}"
      -P "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/SifStorePointLatest.cmake")
    list(APPEND list_commands
      COMMAND "${CMAKE_COMMAND}" -E echo "${layer} (${root}/${layer}.sif):"
      COMMAND "${sifstore}" --root "${root}" list ${layer})
    list(APPEND verify_commands COMMAND ${verify})
    list(APPEND builds sif-${layer})
  endforeach()
  # sif-prune does not build: it depends on the prune targets only.
  add_custom_target(sif-prune)
  foreach(layer IN LISTS layers)
    add_dependencies(sif-prune sif-${layer}-prune)
  endforeach()
  add_custom_target(sif-point-latest ${point_commands}
    COMMENT "Pointing every SIF layer at its newest build" VERBATIM)
  add_custom_target(sif-list ${list_commands}
    COMMENT "Listing the builds of every SIF layer" USES_TERMINAL VERBATIM)
  add_custom_target(sif-verify ${verify_commands}
    COMMENT "Verifying every SIF layer (round trip)" USES_TERMINAL VERBATIM)
  add_dependencies(sif-verify ${builds})
endfunction()

cmake_policy(POP)
